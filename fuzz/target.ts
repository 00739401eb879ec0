import type { Arbitrary } from 'fast-check';
import { ThumbnailerError } from '../src/errors.js';

/** One fuzz target: an entry point of outside bytes and the contract it must keep. */
export interface FuzzTarget {
  name: string;
  /** One line: what is fed where, and what must hold. */
  summary: string;
  /** Parts of script paths whose V8 block coverage guides this target (our code and the parser's). */
  coverage: string[];
  /** Largest input generated or mutated. */
  maxInputBytes: number;
  /** Seconds `npm run fuzz` gives it by default (and CI). */
  defaultSeconds: number;
  /** Seconds one input may run before it counts as a hang. */
  hangSeconds?: number;
  /** Tokens the mutator inserts (keywords, delimiters, magic numbers). */
  dictionary?: (string | Uint8Array)[];
  /** Structured inputs, as bytes; each iteration uses one with probability `generatedShare`. */
  generator?: Arbitrary<Uint8Array>;
  generatedShare?: number;
  /**
   * The target reads stack traces (media: where an exception was thrown). Otherwise inputs run
   * without them (Error.stackTraceLimit = 0), two to three times faster where most inputs are
   * refused, and a failing input is run again with them for its report.
   */
  needsStacks?: boolean;
  setup?(): Promise<void>;
  /** Runs one input; throws when the contract is broken (any throw is a failure). */
  run(input: Uint8Array): void | Promise<void>;
  teardown?(): Promise<void>;
  /** Figures of its own (inputs through ffprobe, outcomes by kind), reported with the run. */
  stats?(): Record<string, number>;
}

/** The contract was broken: what should have happened, and what did. */
export class ContractBroken extends Error {
  override name = 'ContractBroken';
}

export function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new ContractBroken(message);
}

/**
 * The one kind of exception a parser may throw: a ThumbnailerError with a code. Anything else
 * (a TypeError, a RangeError, a plain Error) is rethrown as the failure it is.
 */
export function expectCoded(error: unknown, allowed?: readonly string[]): ThumbnailerError {
  if (!ThumbnailerError.is(error)) throw error;
  if (error.code === 'E_INTERNAL') throw new ContractBroken(`E_INTERNAL: ${error.message}`, { cause: error });
  if (allowed && !allowed.includes(error.code)) {
    throw new ContractBroken(`code ${error.code} is not one of ${allowed.join(', ')}: ${error.message}`, {
      cause: error,
    });
  }
  return error;
}

/** Counts of outcomes by name, for a target's `stats`. */
export class Tally {
  private readonly counts: Record<string, number> = {};

  add(name: string, by = 1): void {
    this.counts[name] = (this.counts[name] ?? 0) + by;
  }

  get(): Record<string, number> {
    return { ...this.counts };
  }
}

export const utf8 = (input: Uint8Array) => Buffer.from(input).toString('utf8');
export const bytesOf = (text: string) => new Uint8Array(Buffer.from(text, 'utf8'));
