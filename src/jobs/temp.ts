import { makeTempFolder, sweepStaleTempFolders } from '../engine/temp.js';

/** A fresh temporary folder for one job (`thumbnailer-job-<pid>-*`), so a later sweep knows whose it was. */
export function makeJobFolder(tempDir: string): Promise<string> {
  return makeTempFolder(tempDir, 'job');
}

/**
 * Removes temporary folders left in `tempDir` by processes that died without cleaning up: job
 * folders and every other kind the product makes, by the engine's one dead-owner rule.
 */
export const sweepStaleJobFolders = sweepStaleTempFolders;
