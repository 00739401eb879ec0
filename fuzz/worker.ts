import { parentPort, workerData } from 'node:worker_threads';
import { runLoop, type LoopOptions } from './loop.js';
import { loadTarget } from './targets/index.js';

/** One target's loop in a worker thread, so that the main thread can watch it for hangs. */
export interface WorkerInput {
  target: string;
  options: Omit<LoopOptions, 'current' | 'onProgress'>;
  /** [inputs run, length of the current input] then the current input's bytes. */
  header: SharedArrayBuffer;
  bytes: SharedArrayBuffer;
}

const data = workerData as WorkerInput;
const target = await loadTarget(data.target);
const result = await runLoop(target, {
  ...data.options,
  current: { header: new Int32Array(data.header), bytes: new Uint8Array(data.bytes) },
  onProgress: (stats) => parentPort!.postMessage({ kind: 'progress', stats }),
});
parentPort!.postMessage({ kind: 'done', ...result });
