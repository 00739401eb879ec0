import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

const digest = (text: string) => createHash('sha256').update(text).digest();

/** The token of a request: `Authorization: Bearer`, or `access_token` on GETs (RFC 6750 2.3). */
function presented(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (header) return /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1] ?? '';
  // <img>, <video> and EventSource cannot send headers: the dashboard adds the token to the URL.
  if (request.method === 'GET' || request.method === 'HEAD') {
    const query = request.query as Record<string, unknown> | undefined;
    const token = query?.access_token;
    return typeof token === 'string' ? token : undefined;
  }
  return undefined;
}

/**
 * An onRequest hook enforcing `THUMBNAILER_API_TOKEN` on every /api route (health, metrics and
 * the dashboard's static files stay open). Compares digests in constant time.
 */
export function bearerAuth(token: string) {
  const expected = digest(token);
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const path = request.url.split('?')[0]!;
    if (path !== '/api' && !path.startsWith('/api/')) return;
    const given = presented(request);
    if (given !== undefined && given !== '' && timingSafeEqual(digest(given), expected)) return;
    await reply
      .status(401)
      .header('www-authenticate', 'Bearer realm="thumbnailer"')
      .send({
        error: {
          code: 'E_UNAUTHORIZED',
          message:
            given === undefined || given === ''
              ? 'This API needs a bearer token: send Authorization: Bearer <THUMBNAILER_API_TOKEN>'
              : 'The bearer token is not valid',
        },
      });
  };
}
