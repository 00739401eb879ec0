import { createConnection, createServer, type Server } from 'node:net';
import { freePort } from '../../src/adapters/emulator.js';

/**
 * A loopback TCP proxy in front of a storage endpoint, counting every byte the upstream sends back
 * (HTTP headers included), whoever asked: SDK range reads, ffmpeg through a SAS URL, a download.
 */
export interface CountingProxy {
  port: number;
  /** Bytes sent from the upstream to clients since the last reset. */
  bytes(): number;
  reset(): void;
  close(): Promise<void>;
}

export async function countingProxy(upstreamPort: number): Promise<CountingProxy> {
  let count = 0;
  const server: Server = createServer((client) => {
    const upstream = createConnection({ host: '127.0.0.1', port: upstreamPort });
    upstream.on('data', (chunk: Buffer) => (count += chunk.length));
    client.pipe(upstream);
    upstream.pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('close', end);
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    port,
    bytes: () => count,
    reset: () => (count = 0),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
