import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { ThumbnailerError, redactSecrets } from '../errors.js';
import { resolveBinaries } from './binaries.js';

export interface RunOptions {
  signal?: AbortSignal;
  /** Hard wall-clock limit. */
  timeoutMs?: number;
  /** Kill when ffmpeg reports no progress for this long (a hung decoder), however long the job is. */
  stallTimeoutMs?: number;
  /** Called with the number of frames ffmpeg has output so far (needs `-progress pipe:2` in args). */
  onFrames?: (frames: number) => void;
  /**
   * Called with each piece ffmpeg writes to stdout and the bytes written so far. Output on stdout
   * counts as progress for the stall timer: ffmpeg prints no progress until every output has
   * started, and a tile sheet starts only when its last tile arrives.
   */
  onStdout?: (chunk: Buffer, total: number) => void;
  /** Keep stdout (for ffprobe JSON or raw frames); otherwise it is discarded. */
  captureStdout?: boolean;
  /** Upper bound on stdout, kept or handed on, so a hostile input cannot make us buffer without end. */
  maxStdoutBytes?: number;
  /**
   * Bytes for the child's stdin (an input read as `pipe:0`), perhaps not ready yet: the child starts
   * meanwhile. The stall timer starts with their first byte. Ending early, or failing, is not the
   * child's failure: the caller aborts it then.
   */
  stdin?: Readable;
  /** After SIGTERM, how long the child may take to exit before SIGKILL (`KILL_GRACE_MS`). */
  killGraceMs?: number;
}

export interface RunResult {
  stdout: Buffer;
  stderr: string;
  durationMs: number;
}

const STDERR_TAIL = 4000;

/** Stable shape for every way a child can fail: spawn error, exit code, signal, timeout, cancel. */
export class FfmpegError extends ThumbnailerError {
  readonly command: string;
  readonly exitCode: number | undefined;
  readonly signalName: string | undefined;
  readonly stderrTail: string;
  readonly timedOut: boolean;
  readonly isCanceled: boolean;
  /** Why, in one line, without the tool's name: what a caller quotes in its own message. */
  readonly reason: string;

  constructor(
    code: 'E_FFMPEG_FAILED' | 'E_FFMPEG_TIMEOUT' | 'E_CANCELED' | 'E_FFMPEG_MISSING',
    message: string,
    details: {
      command: string;
      exitCode?: number;
      signal?: string;
      stderr: string;
      cause?: unknown;
      reason?: string;
    },
  ) {
    super(code, message, { cause: details.cause });
    this.name = 'FfmpegError';
    this.command = details.command;
    this.exitCode = details.exitCode;
    this.signalName = details.signal;
    this.stderrTail = redactSecrets(details.stderr.slice(-STDERR_TAIL));
    this.timedOut = code === 'E_FFMPEG_TIMEOUT';
    this.isCanceled = code === 'E_CANCELED';
    this.reason = redactSecrets(details.reason ?? message);
  }
}

/** The one-line reason of a failure: an FfmpegError's own, otherwise the message. */
export function failureReason(error: ThumbnailerError): string {
  return error instanceof FfmpegError ? error.reason : error.message;
}

/** Last meaningful stderr line, without progress key=value noise: the one-line reason. */
function lastErrorLine(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^[a-z_]+=/.test(l));
  // Local paths are ours (temporary files): they mean nothing to the user.
  return redactSecrets((lines.at(-1) ?? '').replace(/(?:file:)?[^\s:]*\/[^\s:]*:\s*/g, ''));
}

/**
 * After SIGTERM, how long a child has to exit before SIGKILL (execa's `forceKillAfterDelay`):
 * ffmpeg stops within milliseconds of SIGTERM; a child stuck in the kernel, or one that ignores the
 * signal, is killed.
 */
export const KILL_GRACE_MS = 2000;

type StopReason = 'timeout' | 'stall' | 'cancel' | 'overflow';

/**
 * The one place that spawns ffmpeg or ffprobe: no shell, arguments as an array, stopped on abort,
 * on timeout, on stall and on too much output.
 */
export async function runTool(
  tool: 'ffmpeg' | 'ffprobe',
  args: string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const binaries = resolveBinaries();
  return spawnTool(tool === 'ffmpeg' ? binaries.ffmpeg : binaries.ffprobe, tool, args, options);
}

/**
 * `runTool`'s spawn path, for the executable `file` standing for `tool` (tests give it a script).
 * A child is stopped with SIGTERM and its stdin closed (ffmpeg waiting for input sees the signal
 * only once it reads), then SIGKILL after `killGraceMs`; the promise settles when it has exited.
 */
export function spawnTool(
  file: string,
  tool: 'ffmpeg' | 'ffprobe',
  args: string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const started = performance.now();
  return new Promise<RunResult>((resolve, reject) => {
    if (options.signal?.aborted) {
      reject(new FfmpegError('E_CANCELED', `${tool} canceled before start`, { command: tool, stderr: '' }));
      return;
    }
    const child = spawn(file, args, { shell: false, stdio: 'pipe', windowsHide: true });
    const stdoutChunks: Buffer[] = [];
    let stdoutBytes = 0;
    let stderr = '';
    let stopped: StopReason | undefined;
    let lastProgressAt = performance.now();
    let frames = 0;
    let fed = !options.stdin;
    // A child that exits before reading everything closes the pipe (EPIPE): its exit says why.
    child.stdin.on('error', () => undefined);
    if (options.stdin) {
      options.stdin.on('error', () => child.stdin.destroy());
      options.stdin.once('data', () => {
        fed = true;
        lastProgressAt = performance.now();
      });
      options.stdin.pipe(child.stdin);
    } else {
      child.stdin.end();
    }

    let forceKill: NodeJS.Timeout | undefined;
    const stop = (why: StopReason) => {
      if (stopped) return;
      stopped = why;
      child.kill('SIGTERM');
      child.stdin.destroy();
      forceKill = setTimeout(() => child.kill('SIGKILL'), options.killGraceMs ?? KILL_GRACE_MS);
    };
    const onAbort = () => stop('cancel');
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const timer = options.timeoutMs ? setTimeout(() => stop('timeout'), options.timeoutMs) : undefined;
    const stallTimer = options.stallTimeoutMs
      ? setInterval(
          () => {
            if (fed && performance.now() - lastProgressAt > options.stallTimeoutMs!) stop('stall');
          },
          Math.min(1000, options.stallTimeoutMs),
        )
      : undefined;

    child.stdout.on('data', (chunk: Buffer) => {
      lastProgressAt = performance.now();
      stdoutBytes += chunk.length;
      if (options.maxStdoutBytes && stdoutBytes > options.maxStdoutBytes) {
        stop('overflow');
        return;
      }
      options.onStdout?.(chunk, stdoutBytes);
      if (options.captureStdout) stdoutChunks.push(chunk);
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text: string) => {
      stderr = (stderr + text).slice(-64 * 1024);
      lastProgressAt = performance.now();
      const match = /(?:^|\n)frame=\s*(\d+)/g;
      let m: RegExpExecArray | null;
      while ((m = match.exec(text))) frames = Number(m[1]);
      if (options.onFrames) options.onFrames(frames);
    });

    const finish = () => {
      clearTimeout(timer);
      clearTimeout(forceKill);
      clearInterval(stallTimer);
      options.signal?.removeEventListener('abort', onAbort);
    };
    child.on('error', (error: NodeJS.ErrnoException) => {
      finish();
      reject(spawnFailure(tool, file, error, stderr));
    });
    child.on('close', (exitCode, signal) => {
      finish();
      const details = { command: tool, exitCode: exitCode ?? undefined, signal: signal ?? undefined, stderr };
      if (stopped) reject(stopFailure(tool, stopped, options, details));
      else if (exitCode !== 0) {
        const reason = lastErrorLine(stderr) || (signal ? `killed by ${signal}` : `exit code ${exitCode}`);
        reject(new FfmpegError('E_FFMPEG_FAILED', `${tool} failed: ${reason}`, { ...details, reason }));
      } else {
        resolve({ stdout: Buffer.concat(stdoutChunks), stderr, durationMs: performance.now() - started });
      }
    });
  });
}

/** A child that could not start: a missing binary says how to install one, in one sentence. */
function spawnFailure(tool: string, file: string, error: NodeJS.ErrnoException, stderr: string): FfmpegError {
  if (error.code === 'ENOENT') {
    return new FfmpegError(
      'E_FFMPEG_MISSING',
      `${tool} is not installed at ${file}: install ffmpeg (apt-get install ffmpeg) or set FFMPEG_PATH/FFPROBE_PATH.`,
      { command: tool, stderr, cause: error },
    );
  }
  return new FfmpegError('E_FFMPEG_FAILED', `${tool} could not start: ${error.message}`, {
    command: tool,
    stderr,
    cause: error,
  });
}

/** Why a child we stopped was stopped, whatever it exited with. */
function stopFailure(
  tool: string,
  why: StopReason,
  options: RunOptions,
  details: { command: string; exitCode?: number; signal?: string; stderr: string },
): FfmpegError {
  if (why === 'cancel') return new FfmpegError('E_CANCELED', `${tool} was canceled`, details);
  if (why === 'overflow') {
    return new FfmpegError('E_FFMPEG_FAILED', `${tool} produced more output than allowed`, details);
  }
  const what = why === 'timeout' ? `ran longer than ${options.timeoutMs} ms` : 'stopped making progress';
  return new FfmpegError('E_FFMPEG_TIMEOUT', `${tool} ${what} and was stopped`, details);
}

/** Arguments every ffmpeg run starts with: quiet, no stdin, machine-readable progress on stderr. */
export const FFMPEG_BASE_ARGS = [
  '-hide_banner',
  '-nostdin',
  '-loglevel',
  'error',
  '-progress',
  'pipe:2',
  '-nostats',
];

export function runFfmpeg(args: string[], options: RunOptions = {}): Promise<RunResult> {
  return runTool('ffmpeg', [...FFMPEG_BASE_ARGS, ...args], options);
}

export function runFfprobe(args: string[], options: RunOptions = {}): Promise<RunResult> {
  return runTool('ffprobe', ['-hide_banner', '-loglevel', 'error', ...args], {
    captureStdout: true,
    ...options,
  });
}
