import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { run, type RunResult } from './proc.js';

/**
 * Peak memory of a command and its children. Two figures:
 * - `largestProcessMB`: the largest single process (GNU time's %M, from the kernel, exact), or,
 *   without /usr/bin/time, the largest VmHWM seen while sampling;
 * - `treeMB`: the largest sum of VmRSS over the command's whole process tree (node + ffmpeg
 *   together: what a container's memory limit sees), sampled every 20 ms, so a lower bound.
 */

export interface MemoryReport {
  result: RunResult;
  largestProcessMB: number | undefined;
  treeMB: number;
  samples: number;
  source: 'time' | 'proc';
}

const TIME = '/usr/bin/time';
const SAMPLE_MS = 20;

function readStatusKb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    return match ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}

function childrenOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) => {
      try {
        return readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8')
          .split(/\s+/)
          .filter(Boolean)
          .map(Number);
      } catch {
        return [];
      }
    });
  } catch {
    return [];
  }
}

function descendants(pid: number): number[] {
  const all: number[] = [];
  const queue = childrenOf(pid);
  while (queue.length > 0) {
    const next = queue.shift()!;
    all.push(next);
    queue.push(...childrenOf(next));
  }
  return all;
}

export function canMeasureMemory(): boolean {
  return existsSync('/proc/self/status');
}

export async function measureMemory(
  file: string,
  args: string[],
  options: { timeoutMs: number; signal: AbortSignal; tmp: string; env?: NodeJS.ProcessEnv },
): Promise<MemoryReport> {
  const useTime = existsSync(TIME);
  const timeOut = join(options.tmp, `time-${process.pid}-${Date.now()}.txt`);
  let treeKb = 0;
  let hwmKb = 0;
  let samples = 0;
  let timer: NodeJS.Timeout | undefined;

  const sample = (root: number) => {
    // With GNU time the root is `time` itself: count what it runs, not it.
    const pids = useTime ? descendants(root) : [root, ...descendants(root)];
    let sum = 0;
    for (const pid of pids) {
      sum += readStatusKb(pid, 'VmRSS');
      hwmKb = Math.max(hwmKb, readStatusKb(pid, 'VmHWM'));
    }
    treeKb = Math.max(treeKb, sum);
    samples++;
  };

  const [command, commandArgs] = useTime ? [TIME, ['-f', '%M', '-o', timeOut, file, ...args]] : [file, args];
  const result = await run(command, commandArgs, {
    timeoutMs: options.timeoutMs,
    signal: options.signal,
    env: options.env,
    onSpawn: (pid) => {
      timer = setInterval(() => sample(pid), SAMPLE_MS);
    },
  });
  if (timer) clearInterval(timer);

  let largestKb: number | undefined = hwmKb || undefined;
  if (useTime) {
    const text = await readFile(timeOut, 'utf8').catch(() => '');
    const last = text.trim().split('\n').at(-1) ?? '';
    if (/^\d+$/.test(last)) largestKb = Number(last);
    await rm(timeOut, { force: true });
  }
  return {
    result,
    largestProcessMB: largestKb === undefined ? undefined : largestKb / 1024,
    treeMB: treeKb / 1024,
    samples,
    source: useTime ? 'time' : 'proc',
  };
}
