import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/**
 * The CPUs this process may use: the fewer of the cores it may run on and its cgroup's CPU quota
 * (a Kubernetes limit, `docker run --cpus`). ffmpeg's own default counts the host's cores plus one,
 * so a pod limited to 2 CPUs on a 64-core node would start 65 decoder threads, and even on a
 * 2-core machine its 3 frame threads decode VP8 about 10% slower than 2.
 */
export function cpuBudget(): number {
  const cores = availableParallelism();
  const quota = cgroupCpuQuota();
  return Math.max(1, Math.min(cores, quota ?? cores, MAX_THREADS));
}

/** ffmpeg's decoders use at most 16 threads of their own accord. */
const MAX_THREADS = 16;

/** CPUs allowed by the cgroup quota (v2 `cpu.max`, else v1 `cpu.cfs_quota_us`); undefined if unlimited. */
export function cgroupCpuQuota(read: (path: string) => string | undefined = readText): number | undefined {
  const v2 = read('/sys/fs/cgroup/cpu.max');
  if (v2 !== undefined) return cpusFromQuota(v2.trim().split(/\s+/));
  const quota = read('/sys/fs/cgroup/cpu/cpu.cfs_quota_us');
  const period = read('/sys/fs/cgroup/cpu/cpu.cfs_period_us');
  if (quota === undefined || period === undefined) return undefined;
  return cpusFromQuota([quota.trim(), period.trim()]);
}

function cpusFromQuota([quota, period]: string[]): number | undefined {
  const q = Number(quota);
  const p = Number(period);
  // "max" (v2) or -1 (v1): no quota.
  if (!Number.isFinite(q) || !Number.isFinite(p) || q <= 0 || p <= 0) return undefined;
  return Math.max(1, Math.ceil(q / p));
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}
