import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A loopback TCP proxy in front of one port that can be cut (listener closed, every socket
 * destroyed: clients see ECONNRESET, then ECONNREFUSED) and restored on the same port.
 */
export interface TcpProxy {
  port: number;
  readonly up: boolean;
  connections: number;
  cut(): Promise<void>;
  restore(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number, host = '127.0.0.1'): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  let up = false;
  let connections = 0;
  const listen = async () => {
    const s = createServer((client) => {
      connections++;
      const upstream = createConnection({ host, port: targetPort });
      sockets.add(client);
      sockets.add(upstream);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        sockets.delete(client);
        sockets.delete(upstream);
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, host, () => resolve());
    });
    port = (s.address() as AddressInfo).port;
    server = s;
    up = true;
  };
  const cut = async () => {
    up = false;
    const s = server;
    server = undefined;
    for (const socket of sockets) socket.destroy();
    sockets.clear();
    if (s) await new Promise<void>((r) => s.close(() => r()));
  };
  await listen();
  return {
    get port() {
      return port;
    },
    get up() {
      return up;
    },
    get connections() {
      return connections;
    },
    set connections(n: number) {
      connections = n;
    },
    cut,
    restore: async () => {
      if (!up) await listen();
    },
    close: cut,
  };
}
