import { ThumbnailerError, redactSecrets } from '../errors.js';

/** What a storage failure means for the job that met it. */
export type StorageVerdict = 'transient' | 'not-found' | 'permanent';

interface RestLike {
  name?: string;
  code?: string;
  statusCode?: number;
  message?: string;
}

// Network-level failures: storage is unreachable or slow, which time may cure.
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'REQUEST_SEND_ERROR',
]);

/**
 * The one place deciding whether a storage failure is transient (retry with backoff) or
 * permanent. The worker reads only the verdict. Authorization failures count as transient: a
 * rotated key or a missing role assignment is an operator's fix, and poisoning every message
 * meanwhile would lose them.
 */
export function classifyStorageError(error: unknown): StorageVerdict {
  const e = (error ?? {}) as RestLike;
  const status = e.statusCode;
  if (status === undefined) {
    if (e.name === 'AbortError') return 'transient';
    if (e.code && NETWORK_CODES.has(e.code)) return 'transient';
    // RestError without a status is a transport failure.
    if (e.name === 'RestError') return 'transient';
    return 'transient';
  }
  if (status === 404) return 'not-found';
  if (status === 408 || status === 429 || status >= 500) return 'transient';
  if (status === 401 || status === 403) return 'transient';
  // 412: the blob changed under us (If-Match); a new delivery will see the new version.
  if (status === 409 || status === 412) return 'transient';
  return 'permanent';
}

/** True when the value looks like an Azure SDK RestError (or a network error beneath one). */
export function isStorageError(error: unknown): boolean {
  if (!error || typeof error !== 'object') return false;
  const e = error as RestLike;
  return e.name === 'RestError' || (typeof e.code === 'string' && NETWORK_CODES.has(e.code));
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
