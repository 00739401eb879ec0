import { ThumbnailerError } from '../errors.js';

/**
 * Why a running job was stopped, carried as the abort reason of its signal, so the handler reads
 * a typed value instead of guessing from the error the engine threw on the way out.
 * - `shutdown`: the host is stopping; the message goes back to the queue at once (E_CANCELED).
 * - `timeout`: the job ran past THUMBNAILER_JOB_TIMEOUT_MS; retried like any transient failure
 *   (E_JOB_TIMEOUT).
 * - `claim-lost`: another worker took the claim on the video; this one stops so two workers never
 *   encode one video (E_CLAIM_LOST).
 */
export type StopKind = 'shutdown' | 'timeout' | 'claim-lost';

const CODES = { shutdown: 'E_CANCELED', timeout: 'E_JOB_TIMEOUT', 'claim-lost': 'E_CLAIM_LOST' } as const;

export class JobStop extends ThumbnailerError {
  readonly kind: StopKind;

  constructor(kind: StopKind, message: string) {
    super(CODES[kind], message);
    this.name = 'JobStop';
    this.kind = kind;
  }

  static shutdown(host: string): JobStop {
    return new JobStop('shutdown', `The ${host} is shutting down; the job was released`);
  }

  static timeout(limitMs: number): JobStop {
    return new JobStop('timeout', `The job exceeded its time limit of ${Math.round(limitMs / 1000)} s`);
  }

  static claimLost(video: string): JobStop {
    return new JobStop('claim-lost', `The claim on ${video} was taken by another worker; this run stopped`);
  }
}

/** The typed reason a signal was aborted with, when it was a JobStop. */
export function stopOf(signal: AbortSignal): JobStop | undefined {
  const reason: unknown = signal.reason;
  return signal.aborted && reason instanceof JobStop ? reason : undefined;
}

/**
 * A job's signal: aborted by `stop(kind)`, or with a `timeout` JobStop once `timeoutMs` passes.
 * `dispose()` clears the timer.
 */
export function jobController(timeoutMs: number): {
  signal: AbortSignal;
  stop: (reason: JobStop) => void;
  dispose: () => void;
} {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(JobStop.timeout(timeoutMs)), timeoutMs);
  timer.unref();
  return {
    signal: controller.signal,
    stop: (reason) => {
      if (!controller.signal.aborted) controller.abort(reason);
    },
    dispose: () => clearTimeout(timer),
  };
}
