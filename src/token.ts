import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (text: string) => createHash('sha256').update(text).digest();

/**
 * Compares a presented API token with THUMBNAILER_API_TOKEN in constant time: both are hashed
 * first, so neither the length nor a common prefix shows in the timing. An empty token never
 * matches. Shared by every host that serves the API (Fastify and the Functions HTTP trigger).
 */
export function tokenMatches(given: string, expected: string): boolean {
  return given !== '' && expected !== '' && timingSafeEqual(digest(given), digest(expected));
}

/** The token of an `Authorization: Bearer <token>` header; '' for any other scheme or shape. */
export function bearerToken(header: string | null | undefined): string | undefined {
  if (header === null || header === undefined) return undefined;
  return /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1] ?? '';
}
