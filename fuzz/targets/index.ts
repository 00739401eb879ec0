import type { FuzzTarget } from '../target.js';

/** Every target by name; each module is loaded only when its target runs. */
export const TARGETS: Record<string, () => Promise<{ target: FuzzTarget }>> = {
  messages: () => import('./messages.js'),
  range: () => import('./range.js'),
  'http-paths': () => import('./http-paths.js'),
  'job-bodies': () => import('./job-bodies.js'),
  writers: () => import('./writers.js'),
  media: () => import('./media.js'),
};

export async function loadTarget(name: string): Promise<FuzzTarget> {
  const load = TARGETS[name];
  if (!load)
    throw new Error(`No fuzz target ${JSON.stringify(name)}: one of ${Object.keys(TARGETS).join(', ')}`);
  return (await load()).target;
}
