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
 * The one place that spawns ffmpeg or ffprobe: no shell, arguments as an array, killed on abort,
 * on timeout and on stall.
 */
export function runTool(
  tool: 'ffmpeg' | 'ffprobe',
  args: string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const binaries = resolveBinaries();
  const file = tool === 'ffmpeg' ? binaries.ffmpeg : binaries.ffprobe;
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
    let outcome: 'timeout' | 'stall' | 'cancel' | 'overflow' | undefined;
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

    const kill = (why: typeof outcome) => {
      if (outcome) return;
      outcome = why;
      child.kill('SIGKILL');
    };
    const onAbort = () => kill('cancel');
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const timer = options.timeoutMs ? setTimeout(() => kill('timeout'), options.timeoutMs) : undefined;
    const stallTimer = options.stallTimeoutMs
      ? setInterval(
          () => {
            if (fed && performance.now() - lastProgressAt > options.stallTimeoutMs!) kill('stall');
          },
          Math.min(1000, options.stallTimeoutMs),
        )
      : undefined;

    child.stdout.on('data', (chunk: Buffer) => {
      lastProgressAt = performance.now();
      stdoutBytes += chunk.length;
      if (options.maxStdoutBytes && stdoutBytes > options.maxStdoutBytes) {
        kill('overflow');
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
      if (timer) clearTimeout(timer);
      if (stallTimer) clearInterval(stallTimer);
      options.signal?.removeEventListener('abort', onAbort);
    };

    child.on('error', (error: NodeJS.ErrnoException) => {
      finish();
      const code = error.code === 'ENOENT' ? 'E_FFMPEG_MISSING' : 'E_FFMPEG_FAILED';
      reject(
        new FfmpegError(
          code,
          code === 'E_FFMPEG_MISSING'
            ? `${tool} is not installed at ${file}: install ffmpeg (apt-get install ffmpeg) or set FFMPEG_PATH/FFPROBE_PATH.`
            : `${tool} could not start: ${error.message}`,
          { command: tool, stderr, cause: error },
        ),
      );
    });
    child.on('close', (exitCode, signal) => {
      finish();
      const durationMs = performance.now() - started;
      const details = { command: tool, exitCode: exitCode ?? undefined, signal: signal ?? undefined, stderr };
      if (outcome === 'cancel') {
        reject(new FfmpegError('E_CANCELED', `${tool} was canceled`, details));
      } else if (outcome === 'timeout' || outcome === 'stall') {
        const what =
          outcome === 'timeout' ? `ran longer than ${options.timeoutMs} ms` : 'stopped making progress';
        reject(new FfmpegError('E_FFMPEG_TIMEOUT', `${tool} ${what} and was stopped`, details));
      } else if (outcome === 'overflow') {
        reject(new FfmpegError('E_FFMPEG_FAILED', `${tool} produced more output than allowed`, details));
      } else if (exitCode !== 0) {
        const reason = lastErrorLine(stderr) || (signal ? `killed by ${signal}` : `exit code ${exitCode}`);
        reject(new FfmpegError('E_FFMPEG_FAILED', `${tool} failed: ${reason}`, { ...details, reason }));
      } else {
        resolve({ stdout: Buffer.concat(stdoutChunks), stderr, durationMs });
      }
    });
  });
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
