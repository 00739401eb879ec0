import { ThumbnailerError, redactSecrets } from '../errors.js';

/** What a storage failure means for the job that met it. */
export type StorageVerdict = 'transient' | 'not-found' | 'permanent';

interface RestLike {
  name?: string;
  code?: string;
  statusCode?: number;
  message?: string;
}

/** The storage service's HTTP status of a failure, looking through a ThumbnailerError wrapping it. */
export function storageStatus(error: unknown): number | undefined {
  const e = (error ?? {}) as RestLike & { cause?: unknown };
  if (typeof e.statusCode === 'number') return e.statusCode;
  return ThumbnailerError.is(error) && error.cause ? storageStatus(error.cause) : undefined;
}

/**
 * The one place deciding whether a storage failure is transient (retry with backoff), a missing
 * resource, or permanent; everything else (the worker, the renewers, the job table, `doctor`)
 * reads the verdict. A failure without a status is a transport failure (connection refused or
 * reset, DNS, timeout, abort): time may cure it. Authorization failures count as transient: a
 * rotated key or a missing role assignment is an operator's fix, and poisoning every message
 * meanwhile would lose them. A ThumbnailerError made by `storageError` keeps its verdict.
 */
export function classifyStorageError(error: unknown): StorageVerdict {
  if (ThumbnailerError.is(error)) {
    if (error.code === 'E_BLOB_NOT_FOUND') return 'not-found';
    if (error.code === 'E_STORAGE_REFUSED') return 'permanent';
    if (error.code === 'E_STORAGE_UNAVAILABLE') return 'transient';
  }
  const status = storageStatus(error);
  if (status === undefined) return 'transient';
  if (status === 404) return 'not-found';
  if (status === 408 || status === 429 || status >= 500) return 'transient';
  if (status === 401 || status === 403) return 'transient';
  // 409/412: a race on the entity's ETag was lost, or the blob changed under us (If-Match);
  // reading again (or a new delivery) sees the new version.
  if (status === 409 || status === 412) return 'transient';
  return 'permanent';
}

/** True when an optimistic-concurrency write lost a race (409 exists, 412 ETag changed). */
export function isConcurrencyConflict(error: unknown): boolean {
  const status = storageStatus(error);
  return status === 409 || status === 412;
}

/**
 * True when changing a received queue message failed because the message is no longer this
 * receiver's: gone (404: deleted, expired), or received again elsewhere, which superseded its pop
 * receipt (400). Any other failure says nothing about who holds the message.
 */
export function isMessageLost(error: unknown): boolean {
  const status = storageStatus(error);
  return status === 404 || status === 400;
}

/** An answer the protocol does not allow (a range longer than asked for): transient, like a transport failure. */
export function unexpectedAnswer(what: string): ThumbnailerError {
  return new ThumbnailerError('E_STORAGE_UNAVAILABLE', `Storage answered unexpectedly: ${what}`);
}

/**
 * Turns a storage SDK failure into a ThumbnailerError carrying the verdict. The message names
 * what was being done and never contains a URL query, key or connection string.
 */
export function storageError(error: unknown, doing: string): ThumbnailerError {
  if (ThumbnailerError.is(error)) return error;
  const e = (error ?? {}) as RestLike;
  const verdict = classifyStorageError(error);
  const detail = [e.statusCode, e.code].filter((x) => x !== undefined && x !== '').join(' ');
  const first = (e.message ?? String(error)).split('\n')[0]!.slice(0, 300);
  const message = redactSecrets(`Storage failure while ${doing}${detail ? ` (${detail})` : ''}: ${first}`);
  if (verdict === 'not-found') return new ThumbnailerError('E_BLOB_NOT_FOUND', message, { cause: error });
  if (verdict === 'permanent') return new ThumbnailerError('E_STORAGE_REFUSED', message, { cause: error });
  return new ThumbnailerError('E_STORAGE_UNAVAILABLE', message, { cause: error });
}
