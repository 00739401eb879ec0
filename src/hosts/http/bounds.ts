import type { FastifyReply } from 'fastify';
import { ThumbnailerError } from '../../errors.js';

/**
 * A count of requests holding a scarce resource (frames being made, open event streams). Past
 * `max`, a request is shed at once with 503 and `Retry-After` rather than queued: a queue would only
 * hold the sockets and memory the bound is there to protect.
 */
export class Gate {
  private held = 0;

  constructor(
    readonly max: number,
    private readonly what: string,
    private readonly retryAfterSeconds = 1,
  ) {}

  get inUse(): number {
    return this.held;
  }

  /** Takes a place or throws E_OVERLOADED (after setting `Retry-After`); returns its release. */
  enter(reply: FastifyReply): () => void {
    if (this.held >= this.max) {
      reply.header('retry-after', String(this.retryAfterSeconds));
      throw new ThumbnailerError(
        'E_OVERLOADED',
        `Too many ${this.what} at once (${this.max}); retry after ${this.retryAfterSeconds} s.`,
      );
    }
    this.held += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.held -= 1;
    };
  }
}

/** Aborted when the client goes away before the response is complete. */
export function clientGone(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  return controller.signal;
}
