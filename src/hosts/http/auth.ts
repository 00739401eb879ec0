import type { FastifyReply, FastifyRequest } from 'fastify';
import { ThumbnailerError, errorBody } from '../../errors.js';
import { bearerToken, tokenMatches } from '../../token.js';

/** The token of a request: `Authorization: Bearer`, or `access_token` on GETs (RFC 6750 2.3). */
function presented(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (header) return bearerToken(header);
  // <img>, <video> and EventSource cannot send headers: the dashboard adds the token to the URL.
  if (request.method === 'GET' || request.method === 'HEAD') {
    const query = request.query as Record<string, unknown> | undefined;
    const token = query?.access_token;
    return typeof token === 'string' ? token : undefined;
  }
  return undefined;
}

/**
 * An onRequest hook enforcing `THUMBNAILER_API_TOKEN`. It is added to the scope that holds the API
 * routes, so it never looks at the URL: which routes it guards is decided by where they are
 * registered (health, metrics and the dashboard's files are outside that scope).
 */
export function bearerAuth(token: string) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const given = presented(request);
    if (given !== undefined && tokenMatches(given, token)) return;
    await reply
      .status(401)
      .header('www-authenticate', 'Bearer realm="thumbnailer"')
      .send(
        errorBody(
          new ThumbnailerError(
            'E_UNAUTHORIZED',
            given === undefined || given === ''
              ? 'This API needs a bearer token: send Authorization: Bearer <THUMBNAILER_API_TOKEN>'
              : 'The bearer token is not valid',
          ),
        ),
      );
  };
}
