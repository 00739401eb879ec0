import { Webhook } from 'standardwebhooks';
import type { WebhookSettings } from '../../config.js';
import { webhookUrlProblem } from '../../config.js';
import { ThumbnailerError } from '../../errors.js';
import type { Logger } from '../../logger.js';

/**
 * Delivers one event to THUMBNAILER_WEBHOOK_URL, signed per Standard Webhooks. Retries timeouts,
 * network errors, 5xx, 408 and 429 with exponential backoff, a bounded number of times; any other
 * answer (4xx, a redirect, which is never followed) ends the delivery. Never throws: a receiver
 * that stays down must not fail the job.
 */

export type WebhookResult =
  | { ok: true; attempts: number; status: number }
  | { ok: false; attempts: number; status?: number; reason: string };

/** What logs may say about the URL: scheme, host and path, never the query (it may hold a key). */
export function describeWebhookUrl(raw: string): string {
  try {
    const url = new URL(raw);
    return `${url.origin}${url.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });

const retryable = (status: number) => status >= 500 || status === 408 || status === 429;

/** Seconds of a `Retry-After` header (delta form only), capped by the caller. */
function retryAfterMs(header: string | null): number | undefined {
  if (!header || !/^\d{1,6}$/.test(header.trim())) return undefined;
  return Number(header.trim()) * 1000;
}

export class WebhookSender {
  private readonly settings: WebhookSettings;
  private readonly signer: Webhook;
  readonly target: string;

  constructor(settings: WebhookSettings) {
    const problem = webhookUrlProblem(settings.url);
    if (problem)
      throw new ThumbnailerError('E_OPTION_INVALID', `Invalid setting THUMBNAILER_WEBHOOK_URL: ${problem}`);
    this.settings = settings;
    this.signer = new Webhook(settings.secret);
    this.target = describeWebhookUrl(settings.url);
  }

  /** The three Standard Webhooks headers for one attempt (a fresh timestamp each time). */
  sign(id: string, body: string, now: Date = new Date()): Record<string, string> {
    return {
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
      'webhook-signature': this.signer.sign(id, now, body),
    };
  }

  async deliver(
    id: string,
    body: string,
    options: { logger: Logger; signal?: AbortSignal },
  ): Promise<WebhookResult> {
    const { attempts, timeoutMs, retryBaseMs } = this.settings;
    const log = options.logger.child({ eventId: id, webhook: this.target });
    let last: { status?: number; reason: string } = { reason: 'not attempted' };
    for (let attempt = 1; attempt <= attempts; attempt++) {
      let waitMs = retryBaseMs * 2 ** (attempt - 1) * (0.8 + 0.4 * Math.random());
      try {
        const signals = [AbortSignal.timeout(timeoutMs), ...(options.signal ? [options.signal] : [])];
        const response = await fetch(this.settings.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/cloudevents+json; charset=utf-8',
            'user-agent': 'video-thumbnailer',
            ...this.sign(id, body),
          },
          body,
          redirect: 'manual',
          signal: AbortSignal.any(signals),
        });
        // The answer's body is of no use, and a hostile receiver could make it endless.
        await response.body?.cancel().catch(() => undefined);
        if (response.status >= 200 && response.status < 300) {
          if (attempt > 1) log.info({ attempt, status: response.status }, 'webhook delivered after a retry');
          return { ok: true, attempts: attempt, status: response.status };
        }
        last = {
          status: response.status,
          reason:
            response.status >= 300 && response.status < 400
              ? `answered a redirect (${response.status}), which is not followed`
              : `answered ${response.status}`,
        };
        if (!retryable(response.status)) {
          log.warn({ attempt, status: response.status }, `webhook refused the event: ${last.reason}`);
          return { ok: false, attempts: attempt, ...last };
        }
        const after = retryAfterMs(response.headers.get('retry-after'));
        if (after !== undefined)
          waitMs = Math.min(Math.max(waitMs, after), Math.max(retryBaseMs, 1000) * 2 ** attempts);
      } catch (error) {
        const e = error as { name?: string; cause?: { code?: string } };
        last = {
          reason:
            e.name === 'TimeoutError'
              ? `no answer within ${timeoutMs} ms`
              : (e.cause?.code ?? (error instanceof Error ? error.message : String(error))),
        };
      }
      if (options.signal?.aborted) break;
      if (attempt < attempts) {
        log.warn(
          { attempt, status: last.status, retryInMs: Math.round(waitMs) },
          `webhook attempt failed: ${last.reason}`,
        );
        await sleep(waitMs, options.signal);
        if (options.signal?.aborted) break;
      }
    }
    log.error({ attempts, status: last.status }, `webhook not delivered: ${last.reason}`);
    return { ok: false, attempts, ...last };
  }
}
