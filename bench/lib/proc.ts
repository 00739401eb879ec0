import { spawn } from 'node:child_process';

/** Spawning for the bench: no shell, arguments as an array, a wall-clock limit, killed on abort. */

export interface RunOptions {
  /** Hard wall-clock limit; the bench must stop by itself. */
  timeoutMs?: number;
  signal?: AbortSignal;
  cwd?: string;
  /** Keep stdout (raw frames, JSON); otherwise only its tail is kept. */
  captureStdout?: boolean;
  /** Called once the child exists, with its pid (memory sampling). */
  onSpawn?: (pid: number) => void;
  /** Called with each complete stdout line (ffmpeg `-progress pipe:1`). */
  onStdoutLine?: (line: string) => void;
  /** Variables on top of `COMMAND_ENV` (a connection string, say). */
  env?: NodeJS.ProcessEnv;
}

export interface RunResult {
  /** Exit code, `undefined` when the child was killed by a signal or never started. */
  code: number | undefined;
  signal: string | undefined;
  stdout: Buffer;
  stderr: string;
  /** Wall-clock seconds from spawn to the child's exit and the end of its output. */
  seconds: number;
  timedOut: boolean;
}

const TAIL = 16_000;

export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly result: RunResult,
  ) {
    super(`${command}: ${describeFailure(result)}`);
    this.name = 'CommandError';
  }
}

/** One line saying why a command failed, with the last meaningful stderr line. */
export function describeFailure(result: RunResult): string {
  const how = result.timedOut
    ? 'timed out'
    : result.signal
      ? `killed by ${result.signal}`
      : `exit code ${result.code ?? '?'}`;
  const lines = result.stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^[a-z_]+=/.test(l));
  const last = lines.at(-1);
  return last ? `${how}: ${last}` : how;
}

/**
 * The environment every timed command gets: what finding the tools needs, nothing of this machine's
 * own tuning. NODE_OPTIONS or NODE_EXTRA_CA_CERTS (a proxy's certificates: 70 ms more for every
 * Node start on the machine of docs/benchmarks.md) would change the Node commands' figures and not
 * ffmpeg's.
 */
const COMMAND_ENV_KEYS = ['PATH', 'HOME', 'LANG', 'TMPDIR', 'FFMPEG_PATH', 'FFPROBE_PATH'];
const COMMAND_ENV: NodeJS.ProcessEnv = Object.fromEntries(
  COMMAND_ENV_KEYS.flatMap((key) => (process.env[key] === undefined ? [] : [[key, process.env[key]]])),
);

export function run(file: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise<RunResult>((resolve) => {
    const started = performance.now();
    const child = spawn(file, args, {
      cwd: options.cwd,
      env: { ...COMMAND_ENV, ...options.env },
      shell: false,
      stdio: ['ignore', 'pipe', 'pipe'],
      windowsHide: true,
    });
    const out: Buffer[] = [];
    let outTail = '';
    let stderr = '';
    let partialLine = '';
    let timedOut = false;
    let settled = false;
    let killTimer: NodeJS.Timeout | undefined;

    const kill = () => {
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), 3000);
      killTimer.unref();
    };
    const timer =
      options.timeoutMs !== undefined
        ? setTimeout(() => {
            timedOut = true;
            kill();
          }, options.timeoutMs)
        : undefined;
    const onAbort = () => kill();
    options.signal?.addEventListener('abort', onAbort, { once: true });

    if (child.pid !== undefined) options.onSpawn?.(child.pid);

    child.stdout.on('data', (chunk: Buffer) => {
      if (options.captureStdout) out.push(chunk);
      else outTail = (outTail + chunk.toString('utf8')).slice(-TAIL);
      if (options.onStdoutLine) {
        const text = partialLine + chunk.toString('utf8');
        const lines = text.split('\n');
        partialLine = lines.pop() ?? '';
        for (const line of lines) options.onStdoutLine(line);
      }
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-TAIL);
    });

    const finish = (code: number | undefined, signal: string | undefined, extra = '') => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      options.signal?.removeEventListener('abort', onAbort);
      resolve({
        code,
        signal,
        stdout: options.captureStdout ? Buffer.concat(out) : Buffer.from(outTail),
        stderr: stderr + extra,
        seconds: (performance.now() - started) / 1000,
        timedOut,
      });
    };
    child.on('error', (error) => finish(undefined, undefined, `\n${error.message}`));
    child.on('close', (code, signal) => finish(code ?? undefined, signal ?? undefined));
  });
}

/** Runs and throws a `CommandError` unless the command exits with 0. */
export async function mustRun(file: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  const result = await run(file, args, options);
  if (result.code !== 0) throw new CommandError([file, ...args].join(' '), result);
  return result;
}
