import { EventEmitter } from 'node:events';
import type { JobTable } from '../adapters/jobs.js';

/** The table operation the renewer needs: narrow, so tests can fake it. */
export type ClaimTarget = Pick<JobTable, 'renewClaim'>;

export interface ClaimRenewerEvents {
  renewed: [video: string];
  /** The claim is no longer ours (another worker took it after it expired): stop the job. */
  lost: [video: string];
  /** A renewal failed for another reason (storage unreachable); the next one tries again. */
  error: [video: string, error: unknown];
}

/**
 * Keeps one job's claim on its video alive: renews it at half its time to live with a
 * self-rescheduling timer, reports `lost` once when the claim turned out to be someone else's
 * (and stops renewing), and turns every other failure into an `error` event, never a rejection.
 * The sibling of the worker's VisibilityRenewer, for the table rather than the queue.
 */
export class ClaimRenewer extends EventEmitter<ClaimRenewerEvents> {
  private timer?: NodeJS.Timeout;
  private renewing?: Promise<void>;
  private stopped = false;

  constructor(
    private readonly table: ClaimTarget,
    private readonly video: string,
    private readonly owner: string,
    private readonly ttlMs: number,
  ) {
    super();
  }

  /** Starts renewing; the first renewal comes after half the time to live. */
  start(): this {
    this.schedule();
    return this;
  }

  /** Renews once now (the timer calls this). */
  renew(): Promise<void> {
    this.renewing ??= (async () => {
      try {
        const ours = await this.table.renewClaim(this.video, this.owner, this.ttlMs);
        if (this.stopped) return;
        if (ours) this.emit('renewed', this.video);
        else {
          this.stopped = true;
          this.clearTimer();
          this.emit('lost', this.video);
        }
      } catch (error) {
        if (!this.stopped) this.emit('error', this.video, error);
      } finally {
        this.renewing = undefined;
      }
    })();
    return this.renewing;
  }

  /** Stops renewing and waits for a renewal in flight. Idempotent. */
  async close(): Promise<void> {
    this.stopped = true;
    this.clearTimer();
    await this.renewing;
  }

  private schedule(): void {
    if (this.timer || this.stopped) return;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        void this.renew().finally(() => this.schedule());
      },
      Math.max(250, this.ttlMs / 2),
    );
    this.timer.unref?.();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
