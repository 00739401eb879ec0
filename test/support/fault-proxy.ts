import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A loopback HTTP proxy in front of one storage service that passes requests through, or answers
 * the ones a predicate picks with a real `503 ServerBusy`, as Azure Storage does when throttling or
 * unavailable. SharedKey signatures cover the path, not the host, so the SDKs work through it.
 */
export interface FaultProxy {
  port: number;
  /** Requests answered 503 so far. */
  failed: number;
  /** Requests passed through so far. */
  passed: number;
  /** Picks the requests to fail; `undefined` passes everything through. */
  failWhen?: (req: IncomingMessage) => boolean;
  close(): Promise<void>;
}

export async function startFaultProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<FaultProxy> {
  const state: FaultProxy = {
    port: 0,
    failed: 0,
    passed: 0,
    failWhen: undefined,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server: Server = createServer((req, res) => {
    if (state.failWhen?.(req)) {
      state.failed++;
      req.resume();
      const body =
        '<?xml version="1.0" encoding="utf-8"?><Error><Code>ServerBusy</Code><Message>The server is busy (test fault).</Message></Error>';
      res.writeHead(503, {
        'content-type': 'application/xml',
        'x-ms-error-code': 'ServerBusy',
        'content-length': Buffer.byteLength(body),
      });
      res.end(body);
      return;
    }
    state.passed++;
    const upstream = httpRequest(
      {
        host: targetHost,
        port: targetPort,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: `${targetHost}:${targetPort}` },
      },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.port = (server.address() as AddressInfo).port;
  return state;
}
