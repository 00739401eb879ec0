/**
 * The one error type of the product. `code` is the stable contract (tests, API clients and the
 * poison queue read it); `message` is one human sentence; `status` maps it to HTTP; `permanent`
 * tells the worker whether retrying could ever help.
 */
export type ErrorCode =
  | 'E_OPTION_INVALID'
  | 'E_INPUT_NOT_FOUND'
  | 'E_INPUT_EMPTY'
  | 'E_NOT_A_VIDEO'
  | 'E_FORMAT_REFUSED'
  | 'E_NO_VIDEO_STREAM'
  | 'E_CORRUPT_VIDEO'
  | 'E_LIMIT_EXCEEDED'
  | 'E_INDEX_TOO_LARGE'
  | 'E_SAMPLE_TOO_LARGE'
  | 'E_URL_REFUSED'
  | 'E_FFMPEG_MISSING'
  | 'E_FFMPEG_FAILED'
  | 'E_FFMPEG_TIMEOUT'
  | 'E_CANCELED'
  | 'E_JOB_TIMEOUT'
  | 'E_CLAIM_LOST'
  | 'E_JOB_CONFLICT'
  | 'E_OUTPUT_FAILED'
  | 'E_BLOB_NOT_FOUND'
  | 'E_MESSAGE_INVALID'
  | 'E_STORAGE_UNAVAILABLE'
  | 'E_STORAGE_REFUSED'
  | 'E_TABLE_UNAVAILABLE'
  | 'E_VIDEO_BUSY'
  | 'E_NOT_FOUND'
  | 'E_UNAUTHORIZED'
  | 'E_HOST_REFUSED'
  | 'E_ORIGIN_REFUSED'
  | 'E_RANGE_NOT_SATISFIABLE'
  | 'E_TEMP_DISK_FULL'
  | 'E_FRAME_UNAVAILABLE'
  | 'E_OVERLOADED'
  | 'E_DEPLOY_FAILED'
  | 'E_INTERNAL';

interface ErrorSpec {
  status: number;
  permanent: boolean;
}

const SPECS: Record<ErrorCode, ErrorSpec> = {
  E_OPTION_INVALID: { status: 400, permanent: true },
  E_INPUT_NOT_FOUND: { status: 404, permanent: true },
  E_INPUT_EMPTY: { status: 422, permanent: true },
  E_NOT_A_VIDEO: { status: 422, permanent: true },
  E_FORMAT_REFUSED: { status: 422, permanent: true },
  E_NO_VIDEO_STREAM: { status: 422, permanent: true },
  E_CORRUPT_VIDEO: { status: 422, permanent: true },
  E_LIMIT_EXCEEDED: { status: 413, permanent: true },
  /** A container index (MP4 moov, Matroska cues or cluster) larger than the engine will hold. */
  E_INDEX_TOO_LARGE: { status: 413, permanent: true },
  /** One sample (a coded frame) larger than the engine will hold. */
  E_SAMPLE_TOO_LARGE: { status: 413, permanent: true },
  E_URL_REFUSED: { status: 400, permanent: true },
  E_FFMPEG_MISSING: { status: 503, permanent: false },
  E_FFMPEG_FAILED: { status: 500, permanent: false },
  E_FFMPEG_TIMEOUT: { status: 504, permanent: false },
  E_CANCELED: { status: 503, permanent: false },
  E_JOB_TIMEOUT: { status: 504, permanent: false },
  E_CLAIM_LOST: { status: 409, permanent: false },
  E_JOB_CONFLICT: { status: 409, permanent: true },
  E_OUTPUT_FAILED: { status: 500, permanent: false },
  E_BLOB_NOT_FOUND: { status: 404, permanent: true },
  E_MESSAGE_INVALID: { status: 400, permanent: true },
  E_STORAGE_UNAVAILABLE: { status: 503, permanent: false },
  E_STORAGE_REFUSED: { status: 502, permanent: true },
  // The job table cannot be reached: the job waits for it without counting a delivery.
  E_TABLE_UNAVAILABLE: { status: 503, permanent: false },
  E_VIDEO_BUSY: { status: 409, permanent: false },
  E_NOT_FOUND: { status: 404, permanent: true },
  E_UNAUTHORIZED: { status: 401, permanent: true },
  // The open local mode (no API token): a Host name beyond loopback (DNS rebinding), a
  // state-changing request from a page of another origin (cross-site request forgery).
  E_HOST_REFUSED: { status: 421, permanent: true },
  E_ORIGIN_REFUSED: { status: 403, permanent: true },
  E_RANGE_NOT_SATISFIABLE: { status: 416, permanent: true },
  E_TEMP_DISK_FULL: { status: 507, permanent: false },
  // Frames on demand read only through the container index; other videos have their job's outputs.
  E_FRAME_UNAVAILABLE: { status: 422, permanent: true },
  // A bounded resource is full (frames being made, event streams): shed with 503 and Retry-After.
  E_OVERLOADED: { status: 503, permanent: false },
  // `deploy kubernetes` without --dry-run: the cluster refused a document.
  E_DEPLOY_FAILED: { status: 502, permanent: true },
  E_INTERNAL: { status: 500, permanent: false },
};

/** Every code of the catalogue, for what must check a code it did not get through the type. */
export const ERROR_CODES: readonly ErrorCode[] = Object.keys(SPECS) as ErrorCode[];

// eslint-disable-next-line no-restricted-syntax -- the one error type, which the rule asks for
export class ThumbnailerError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly permanent: boolean;
  /** The option, flag or request field at fault, when one is (`rows`, `video`, `name`...). */
  readonly field?: string;

  constructor(
    code: ErrorCode,
    message: string,
    options: { cause?: unknown; permanent?: boolean; field?: string } = {},
  ) {
    super(redactSecrets(message), options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ThumbnailerError';
    this.code = code;
    this.status = SPECS[code].status;
    this.permanent = options.permanent ?? SPECS[code].permanent;
    if (options.field !== undefined) this.field = options.field;
  }

  static is(value: unknown): value is ThumbnailerError {
    return value instanceof ThumbnailerError;
  }

  toJSON(): { code: ErrorCode; message: string; field?: string } {
    return {
      code: this.code,
      message: this.message,
      ...(this.field !== undefined ? { field: this.field } : {}),
    };
  }
}

/** Wraps anything thrown into a ThumbnailerError, keeping typed ones as they are. */
export function asThumbnailerError(error: unknown, fallback: ErrorCode = 'E_INTERNAL'): ThumbnailerError {
  if (ThumbnailerError.is(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new ThumbnailerError(fallback, message, { cause: error });
}

/**
 * Removes what must never reach a log or an error message: SAS signatures, account keys and
 * connection-string secrets. Applied to every ThumbnailerError message and to ffmpeg's stderr.
 */
export function redactSecrets(text: string): string {
  return (
    text
      .replace(
        /([?&](?:sig|se|sv|sp|sr|st|spr|skoid|sktid|skt|ske|sks|skv|saoid|suoid|scid)=)[^&\s"']*/gi,
        '$1REDACTED',
      )
      .replace(/(AccountKey=)[^;\s"']*/gi, '$1REDACTED')
      .replace(/(SharedAccessSignature=)[^;\s"']*/gi, '$1REDACTED')
      .replace(/(Authorization:\s*(?:Bearer|SharedKey)\s+)\S+/gi, '$1REDACTED')
      // A Standard Webhooks secret (THUMBNAILER_WEBHOOK_SECRET), should one ever be quoted.
      .replace(/whsec_[A-Za-z0-9+/=]+/g, 'whsec_REDACTED')
  );
}

/** The one error body of every API host: `{ error: { code, message, field? } }`. */
export interface ErrorBody {
  error: { code: ErrorCode; message: string; field?: string };
}

/**
 * The body an API answers an error with, whichever host serves it (Fastify, the Functions HTTP
 * trigger). A 5xx says what failed without internals (the log has them); a 4xx says why.
 */
export function errorBody(error: ThumbnailerError, status: number = error.status): ErrorBody {
  const message = status < 500 ? error.message : `Internal error (${error.code})`;
  return {
    error: { code: error.code, message, ...(error.field !== undefined ? { field: error.field } : {}) },
  };
}
