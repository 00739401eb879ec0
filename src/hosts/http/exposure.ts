import { isIP } from 'node:net';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ThumbnailerError, errorBody } from '../../errors.js';

/**
 * The open local mode (no THUMBNAILER_API_TOKEN): the API trusts whoever reaches it, so it must be
 * reachable only from this machine, and a web page in a browser on this machine must not be able to
 * use it. docs/contract.md section 8: loopback unless told otherwise, loopback `Host` names only (DNS
 * rebinding), and no state-changing request from another origin (cross-site request forgery).
 */

const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '[::]', '::0', '']);

/** The host part of `host[:port]` or `[v6]:port`, lowercased, brackets kept off. */
function hostName(hostHeader: string): string {
  const value = hostHeader.trim().toLowerCase();
  if (value.startsWith('['))
    return value.slice(1, value.indexOf(']') === -1 ? undefined : value.indexOf(']'));
  const colon = value.indexOf(':');
  // A bare IPv6 address has several colons and no port.
  if (colon !== -1 && value.indexOf(':', colon + 1) === -1) return value.slice(0, colon);
  return value.replace(/\.$/, '');
}

/** localhost, 127.0.0.0/8, ::1: names that never leave this machine. */
export function isLoopbackName(host: string): boolean {
  const name = hostName(host);
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  if (isIP(name) === 4) return name.startsWith('127.');
  if (isIP(name) === 6) return name === '::1' || name === '0:0:0:0:0:0:0:1' || name === '::ffff:127.0.0.1';
  return false;
}

export const isWildcardHost = (host: string): boolean => WILDCARD_HOSTS.has(host.trim().toLowerCase());

/**
 * Refuses to serve an API without a token beyond loopback, unless allowed explicitly
 * (`--allow-open`, THUMBNAILER_ALLOW_OPEN=1).
 */
export function checkOpenBinding(options: { host: string; apiToken?: string; allowOpen?: boolean }): void {
  if (options.apiToken || options.allowOpen || isLoopbackName(options.host)) return;
  throw new ThumbnailerError(
    'E_OPTION_INVALID',
    `Refusing to serve the API on ${options.host} without a token: anyone who can reach it could upload, ` +
      'queue and read videos. Set THUMBNAILER_API_TOKEN (clients then send Authorization: Bearer <token>), ' +
      'or bind to 127.0.0.1, or pass --allow-open (THUMBNAILER_ALLOW_OPEN=1) to serve it open on purpose.',
    { field: 'THUMBNAILER_HOST' },
  );
}

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export interface OpenModeOptions {
  /** THUMBNAILER_HOST: its name is accepted as a `Host` besides the loopback names. */
  host?: string;
}

function refuse(reply: FastifyReply, error: ThumbnailerError) {
  return reply.status(error.status).send(errorBody(error));
}

/**
 * An onRequest hook for the open local mode.
 * - `Host` must be a loopback name or the configured host (with any port). A page whose name
 *   rebinds to 127.0.0.1 sends its own name and is refused (421). When the server listens on every
 *   interface on purpose (`--allow-open`), IP-literal hosts are accepted too: a browser only sends
 *   one when its page was loaded from that address, so no other site's page can read the answers.
 * - POST, PUT, PATCH and DELETE from a page of another origin are refused (403): `Origin` must name
 *   this server, or, without `Origin`, `Sec-Fetch-Site` must not say another site sent it. Clients
 *   that are not browsers (curl, the CLI) send neither and are served.
 */
export function openModeGuard(options: OpenModeOptions) {
  const configured = options.host && !isWildcardHost(options.host) ? hostName(options.host) : undefined;
  const acceptIpLiterals = options.host !== undefined && isWildcardHost(options.host);
  const hostAllowed = (host: string) => {
    const name = hostName(host);
    if (isLoopbackName(host) || (configured !== undefined && name === configured)) return true;
    return acceptIpLiterals && isIP(name) !== 0;
  };
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const host = request.headers.host;
    if (!host || !hostAllowed(host)) {
      await refuse(
        reply,
        new ThumbnailerError(
          'E_HOST_REFUSED',
          `This server answers only to localhost, 127.0.0.1 or [::1]${configured ? ` and ${configured}` : ''}, ` +
            `not ${JSON.stringify(host ?? '')}: set THUMBNAILER_API_TOKEN to serve other names.`,
        ),
      );
      return;
    }
    if (!STATE_CHANGING.has(request.method)) return;
    const origin = request.headers.origin;
    if (origin !== undefined) {
      if (!sameHost(origin, host)) {
        await refuse(
          reply,
          new ThumbnailerError(
            'E_ORIGIN_REFUSED',
            `A request from ${origin === 'null' ? 'an opaque origin' : origin} may not change anything here; ` +
              'without THUMBNAILER_API_TOKEN only pages of this server (the dashboard) and non-browser clients may.',
          ),
        );
      }
      return;
    }
    const site = request.headers['sec-fetch-site'];
    if (site === 'cross-site' || site === 'same-site') {
      await refuse(
        reply,
        new ThumbnailerError(
          'E_ORIGIN_REFUSED',
          'A request sent by another site may not change anything here.',
        ),
      );
    }
  };
}

/** Whether an `Origin` names the same host and port as the request's `Host` (the scheme may differ behind a TLS proxy). */
function sameHost(origin: string, host: string): boolean {
  try {
    const parsed = new URL(origin);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return false;
    const fromHost = new URL(`${parsed.protocol}//${host}`);
    return parsed.host === fromHost.host;
  } catch {
    return false;
  }
}
