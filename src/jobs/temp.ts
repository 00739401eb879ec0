import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

/** Each job's temporary folder is `<tempDir>/thumbnailer-job-<pid>-XXXXXX`: the pid says whose it is. */
const JOB_FOLDER_PREFIX = 'thumbnailer-job-';
const JOB_FOLDER = /^thumbnailer-job-(\d+)-[A-Za-z0-9]+$/;

/** A fresh temporary folder for one job, named so a later sweep knows whose it was. */
export function makeJobFolder(tempDir: string): Promise<string> {
  return mkdtemp(join(tempDir, `${JOB_FOLDER_PREFIX}${process.pid}-`));
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes job folders left in `tempDir` by a worker process that died without cleaning up
 * (SIGKILL, OOM kill, power loss): those whose process is gone, and those carrying our own pid (a
 * restarted container is often pid 1 again, and we have no job yet). Folders of live processes
 * sharing the directory are left alone. Returns the names removed.
 */
export async function sweepStaleJobFolders(tempDir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(tempDir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = JOB_FOLDER.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid !== process.pid && processAlive(pid)) continue;
    await rm(join(tempDir, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}
