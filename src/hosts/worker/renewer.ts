import { isMessageLost } from '../../adapters/errors.js';
import { EventEmitter } from 'node:events';

/** The queue operations the renewer needs: narrow, so tests can fake them. */
export interface VisibilityTarget {
  setVisibility(id: string, popReceipt: string, visibilityTimeoutSeconds: number): Promise<string>;
}

/** A message held by the worker; `popReceipt` is always the newest one. */
export interface TrackedMessage {
  readonly id: string;
  readonly popReceipt: string;
  /** False once a renewal found the message gone (deleted, or its receipt superseded). */
  readonly held: boolean;
}

interface Entry {
  id: string;
  popReceipt: string;
  held: boolean;
  renewing?: Promise<void>;
}

export interface RenewerEvents {
  renewed: [id: string];
  lost: [id: string, error: unknown];
  error: [error: unknown];
}

/**
 * Keeps received messages invisible while their jobs run: every tracked message is renewed to
 * the full visibility timeout at half of it, and the newest pop receipt is kept for the final
 * delete or release. One self-rescheduling timer; failures become events, never rejections.
 */
export class VisibilityRenewer extends EventEmitter<RenewerEvents> {
  private readonly entries = new Map<string, Entry>();
  private timer?: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly queue: VisibilityTarget,
    private readonly visibilityTimeoutSeconds: number,
  ) {
    super();
  }

  get size(): number {
    return this.entries.size;
  }

  track(id: string, popReceipt: string): TrackedMessage {
    const entry: Entry = { id, popReceipt, held: true };
    this.entries.set(id, entry);
    this.schedule();
    return {
      id,
      get popReceipt() {
        return entry.popReceipt;
      },
      get held() {
        return entry.held;
      },
    };
  }

  /** Stops renewing; waits for a renewal in flight so the receipt it returns is not lost. */
  async untrack(id: string): Promise<string | undefined> {
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    this.entries.delete(id);
    await entry.renewing;
    if (this.entries.size === 0) this.clearTimer();
    return entry.popReceipt;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.clearTimer();
    await Promise.all([...this.entries.values()].map((e) => e.renewing));
    this.entries.clear();
  }

  /** Renews every tracked message now (the timer calls this). */
  async renewAll(): Promise<void> {
    await Promise.all([...this.entries.values()].map((e) => this.renew(e)));
  }

  private renew(entry: Entry): Promise<void> {
    if (entry.renewing) return entry.renewing;
    entry.renewing = (async () => {
      try {
        entry.popReceipt = await this.queue.setVisibility(
          entry.id,
          entry.popReceipt,
          this.visibilityTimeoutSeconds,
        );
        this.emit('renewed', entry.id);
      } catch (error) {
        if (isMessageLost(error)) {
          entry.held = false;
          this.entries.delete(entry.id);
          this.emit('lost', entry.id, error);
        } else {
          this.emit('error', error);
        }
      } finally {
        entry.renewing = undefined;
      }
    })();
    return entry.renewing;
  }

  private schedule(): void {
    if (this.timer || this.closed) return;
    const intervalMs = Math.max(500, (this.visibilityTimeoutSeconds * 1000) / 2);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.renewAll().finally(() => {
        if (this.entries.size > 0) this.schedule();
      });
    }, intervalMs);
    this.timer.unref?.();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
