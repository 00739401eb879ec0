import type { FastifyInstance } from 'fastify';

/** Listens on `host:port` (127.0.0.1 unless told otherwise); returns the bound address. */
export async function listen(app: FastifyInstance, options: { host: string; port: number }): Promise<string> {
  return app.listen({ host: options.host, port: options.port });
}
