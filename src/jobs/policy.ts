import { ThumbnailerError, asThumbnailerError, redactSecrets } from '../errors.js';
import type { JobError } from '../adapters/jobs.js';
import { decodeBody } from './messages.js';
import type { Decision, JobDeps, JobInfo, JobMessage } from './types.js';

/** Exponential backoff with jitter: base, 2x base, 4x base... capped. */
export function retryDelayMs(
  dequeueCount: number,
  baseMs: number,
  maxMs: number,
  random = Math.random,
): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.max(0, dequeueCount - 1));
  return Math.round(exp * (0.8 + 0.4 * random()));
}

/**
 * What to do with a failed delivery: permanent errors and the last allowed delivery go to the
 * poison queue, the rest are retried after a backoff.
 */
export function decide(
  error: unknown,
  dequeueCount: number,
  deps: Pick<JobDeps, 'maxDeliveries' | 'retryBaseMs' | 'retryMaxMs'>,
  info: JobInfo = {},
): Decision {
  const e = asThumbnailerError(error);
  if (e.permanent || dequeueCount >= deps.maxDeliveries) return { action: 'poison', error: e, info };
  return {
    action: 'retry',
    error: e,
    delayMs: retryDelayMs(dequeueCount, deps.retryBaseMs, deps.retryMaxMs),
    info,
  };
}

/**
 * How long a waiting message stays hidden: a few base retry delays (8 s by default), at least a
 * second and at most 30 s, with jitter, so a duplicate ends soon after the run it joined.
 */
export function waitDelayMs(deps: Pick<JobDeps, 'retryBaseMs'>, random = Math.random): number {
  const base = Math.min(30_000, Math.max(1000, deps.retryBaseMs * 4));
  return Math.round(base * (0.8 + 0.4 * random()));
}

/** The error a message gets once it was delivered more often than allowed without completing. */
export function deliveredTooOften(dequeueCount: number): ThumbnailerError {
  return new ThumbnailerError(
    'E_INTERNAL',
    `The message was delivered ${dequeueCount} times without completing`,
    {
      permanent: true,
    },
  );
}

/**
 * The message as it may be kept: unchanged, unless it carries a secret (a SAS URL's signature, an
 * account key), which is redacted in the decoded text and re-encoded as it came.
 */
function redactedMessageText(text: string): string {
  const { text: decoded, base64 } = decodeBody(text);
  const redacted = redactSecrets(decoded);
  if (redacted === decoded) return text;
  return base64 ? Buffer.from(redacted, 'utf8').toString('base64') : redacted;
}

/** The body written to `<queue>-poison`: the original message (secrets redacted), the last error and the count. */
export function poisonBody(message: JobMessage, error: JobError, info: JobInfo): string {
  const text = redactedMessageText(message.text);
  return JSON.stringify({
    error: { code: error.code, message: error.message },
    jobId: info.jobId,
    video: info.video,
    dequeueCount: message.dequeueCount,
    failedAt: new Date().toISOString(),
    message: text.length > 16_000 ? `${text.slice(0, 16_000)}...` : text,
  });
}
