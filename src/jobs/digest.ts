import { createHash } from 'node:crypto';
import { stringify } from 'safe-stable-stringify';
import type { GenerateOptions } from '../engine/options.js';

/** JSON with keys sorted at every depth, so key order does not matter when comparing options. */
export function canonicalJson(value: unknown): string {
  return stringify(value) ?? 'null';
}

/** A short digest of the options: part of the claim key, so one claim means one piece of work. */
export function optionsDigest(options: GenerateOptions): string {
  return createHash('sha256').update(canonicalJson(options)).digest('hex').slice(0, 16);
}
