import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync } from 'fastify';
import { ThumbnailerError } from '../../errors.js';

/**
 * The dashboard's files: src/hosts/http/public in development (tsx), copied beside the compiled
 * app into dist/hosts/http/public by `npm run build`. Nothing is fetched from elsewhere.
 */
export const PUBLIC_DIR = fileURLToPath(new URL('./public/', import.meta.url));

const CSP = [
  "default-src 'self'",
  "img-src 'self' blob: data:",
  "media-src 'self' blob:",
  "style-src 'self'",
  "script-src 'self'",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

/** `/` and its assets, revalidated by ETag, under a strict Content-Security-Policy. */
export const dashboard: FastifyPluginAsync = async (app) => {
  if (!existsSync(PUBLIC_DIR)) {
    throw new ThumbnailerError(
      'E_INTERNAL',
      `The dashboard's files are missing from ${PUBLIC_DIR}: run npm run build`,
    );
  }
  await app.register(fastifyStatic, {
    root: PUBLIC_DIR,
    prefix: '/',
    wildcard: false,
    index: ['index.html'],
    cacheControl: true,
    maxAge: 0,
    etag: true,
    lastModified: true,
    setHeaders(res) {
      res.header('content-security-policy', CSP);
      res.header('x-content-type-options', 'nosniff');
      res.header('referrer-policy', 'no-referrer');
    },
  });
};
