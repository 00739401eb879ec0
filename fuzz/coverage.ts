import { Session } from 'node:inspector';

/**
 * V8 block coverage as fuzzing feedback. Precise coverage in binary mode reports, for each
 * function run since the last take, its range and the blocks inside it that did not run (V8 leaves
 * out blocks that ran as often as their function), then resets. So a block counts as reached when
 * its function ran and the block, once seen in some report, is not among the ones that did not run.
 * Taking coverage costs about a millisecond: the loop takes it once per batch of inputs.
 */

interface CoverageRange {
  startOffset: number;
  endOffset: number;
  count: number;
}
interface ScriptCoverage {
  url: string;
  functions: { ranges: CoverageRange[] }[];
}

export class CoverageMap {
  private readonly session = new Session();
  /** Functions and blocks reached so far: `url@function` and `url@function:start-end`. */
  private readonly reached = new Set<string>();
  /** The blocks of each function that reports have shown. */
  private readonly blocksOf = new Map<string, CoverageRange[]>();

  /** `include`: substrings of script URLs (file paths) whose coverage counts. */
  constructor(private readonly include: string[]) {}

  start(): void {
    this.session.connect();
    this.post('Profiler.enable');
    this.post('Profiler.startPreciseCoverage', { callCount: false, detailed: true });
    this.take();
  }

  stop(): void {
    this.session.disconnect();
  }

  /** Functions and blocks reached so far. */
  get size(): number {
    return this.reached.size;
  }

  /** What ran since the last call that had never been reached; `commit` makes it reached. */
  collect(): string[] {
    const fresh = new Set<string>();
    for (const script of this.take()) {
      if (!this.include.some((part) => script.url.includes(part))) continue;
      for (const fn of script.functions) {
        const [whole, ...blocks] = fn.ranges;
        if (!whole || whole.count === 0) continue;
        const key = `${script.url}@${whole.startOffset}`;
        const known = this.blocksOf.get(key) ?? [];
        for (const b of blocks) {
          if (!known.some((k) => k.startOffset === b.startOffset && k.endOffset === b.endOffset))
            known.push(b);
        }
        this.blocksOf.set(key, known);
        const notRun = blocks.filter((b) => b.count === 0);
        this.note(key, fresh);
        for (const block of known) {
          const skipped = notRun.some(
            (u) => u.startOffset <= block.startOffset && block.endOffset <= u.endOffset,
          );
          if (!skipped) this.note(`${key}:${block.startOffset}-${block.endOffset}`, fresh);
        }
      }
    }
    return [...fresh];
  }

  commit(keys: string[]): void {
    for (const k of keys) this.reached.add(k);
  }

  private note(key: string, fresh: Set<string>): void {
    if (!this.reached.has(key)) fresh.add(key);
  }

  private take(): ScriptCoverage[] {
    return this.post<{ result: ScriptCoverage[] }>('Profiler.takePreciseCoverage').result;
  }

  /** An inspector call of this thread's own isolate answers before `post` returns. */
  private post<T = unknown>(method: string, params: object = {}): T {
    let outcome: { error: Error | null; result?: T } | undefined;
    this.session.post(method, params, (error, result) => {
      outcome = { error, result: result as T };
    });
    if (!outcome) throw new Error(`the inspector did not answer ${method} synchronously`);
    if (outcome.error) throw outcome.error;
    return outcome.result as T;
  }
}
