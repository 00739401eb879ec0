import type { Storage } from '../../adapters/storage.js';
import type { FrameService } from '../../engine/frames.js';
import type { Worker } from '../worker/worker.js';
import type { Gate } from './bounds.js';

/** What the API routes use: the storage adapters, the frame service and, in-process, the worker. */
export interface ApiContext {
  storage: Pick<
    Storage,
    'blobs' | 'jobs' | 'queue' | 'accountName' | 'videoContainer' | 'thumbnailContainer'
  >;
  frames: FrameService;
  maxUploadBytes: number;
  worker?: Pick<Worker, 'on' | 'off'>;
  /** Table poll interval of the job event streams. */
  eventsPollMs?: number;
  /** Called with bytes read from Blob storage for on-demand frames (metrics). */
  onBytesRead?: (bytes: number) => void;
  /** Aborted when the app closes: ends open event streams. */
  closing: AbortSignal;
  /** Frames being made at once. */
  frameGate: Gate;
  /** Open job event streams. */
  streamGate: Gate;
  /** How long one event stream lasts before the client reconnects. */
  eventStreamLifetimeMs: number;
}
