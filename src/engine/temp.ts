import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Every temporary folder the product makes is `<parent>/thumbnailer-<kind>-<pid>-XXXXXX`: the pid
 * says which process owns it, so a starting process can remove what a killed one left behind
 * (SIGKILL, OOM kill, power loss) without touching the folders of live ones.
 * - `job`: a worker's job folder (the engine's folder and the staged outputs live inside);
 * - `engine`: one `generate` run outside a job (CLI `generate`, direct engine use);
 * - `frames`: an on-demand frame service's open video (index sample, frame selections).
 */
export type TempFolderKind = 'job' | 'engine' | 'frames';

const OWNED = /^thumbnailer-(?:job|engine|frames)-(\d+)-[A-Za-z0-9]+$/;

/** Creates a temporary folder of this kind, owned by this process. */
export function makeTempFolder(parent: string, kind: TempFolderKind): Promise<string> {
  return mkdtemp(join(parent, `thumbnailer-${kind}-${process.pid}-`));
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
 * Removes the temporary folders of every kind left in `parent` by processes that are gone, and
 * those carrying our own pid (a restarted container is often pid 1 again, and a process calls this
 * before it makes any folder of its own). Folders of live processes sharing the directory, and
 * anything not named by the product, are left alone. Returns the names removed.
 */
export async function sweepStaleTempFolders(parent: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(parent);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = OWNED.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid !== process.pid && processAlive(pid)) continue;
    await rm(join(parent, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}
