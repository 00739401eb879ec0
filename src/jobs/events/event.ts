import { createHash } from 'node:crypto';
import { redactSecrets } from '../../errors.js';

/**
 * The completion event of docs/contract.md section 10: CloudEvents 1.0 in structured JSON mode. Pure
 * functions of what the job handler knows, so a redelivered message rebuilds the same `id`.
 */

export const COMPLETED_TYPE = 'video-thumbnailer.job.completed';
export const FAILED_TYPE = 'video-thumbnailer.job.failed';
export type CompletionType = typeof COMPLETED_TYPE | typeof FAILED_TYPE;

export interface CompletedData {
  jobId: string;
  video: string;
  etag?: string;
  /** Output file name -> plain blob URL (never signed); `manifest.json` included. */
  outputs: Record<string, string>;
  /** True when the outputs list was cut to fit a queue message (the manifest lists them all). */
  outputsTruncated?: true;
}

export interface FailedData {
  jobId: string;
  video?: string;
  etag?: string;
  error: { code: string; message: string };
}

export interface CompletionEvent<T = CompletedData | FailedData> {
  specversion: '1.0';
  id: string;
  source: string;
  type: CompletionType;
  subject?: string;
  time: string;
  datacontenttype: 'application/json';
  data: T;
}

/** A queue message holds 64 KiB, base64 makes 4 bytes of 3: the JSON must stay under 48 KiB. */
export const MAX_EVENT_BYTES = 46 * 1024;
const MAX_ERROR_MESSAGE = 2000;

/**
 * Stable for the job and its outcome: the same message (same job id), redelivered after a crash
 * between sending and deleting, yields the same id, so receivers can deduplicate on it.
 */
export function eventId(source: string, jobId: string, type: CompletionType): string {
  const hex = createHash('sha256').update(`${source}\n${jobId}\n${type}`).digest('hex');
  // Shaped like a UUID (version nibble 5, RFC 4122 variant): what receivers' id columns expect.
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${((parseInt(hex[16]!, 16) & 3) | 8).toString(16)}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

export function completedEvent(
  source: string,
  data: CompletedData,
  now: Date = new Date(),
): CompletionEvent<CompletedData> {
  const event: CompletionEvent<CompletedData> = {
    specversion: '1.0',
    id: eventId(source, data.jobId, COMPLETED_TYPE),
    source,
    type: COMPLETED_TYPE,
    subject: data.video,
    time: now.toISOString(),
    datacontenttype: 'application/json',
    data,
  };
  if (Buffer.byteLength(JSON.stringify(event)) > MAX_EVENT_BYTES) {
    // Thousands of storyboard sheets: keep the manifest's URL, which lists every output.
    const manifest = Object.entries(data.outputs).find(([file]) => file === 'manifest.json');
    event.data = { ...data, outputs: Object.fromEntries(manifest ? [manifest] : []), outputsTruncated: true };
  }
  return event;
}

export function failedEvent(
  source: string,
  data: FailedData,
  now: Date = new Date(),
): CompletionEvent<FailedData> {
  const message = redactSecrets(data.error.message);
  return {
    specversion: '1.0',
    id: eventId(source, data.jobId, FAILED_TYPE),
    source,
    type: FAILED_TYPE,
    ...(data.video ? { subject: data.video } : {}),
    time: now.toISOString(),
    datacontenttype: 'application/json',
    data: {
      ...data,
      error: {
        code: data.error.code,
        message: message.length > MAX_ERROR_MESSAGE ? `${message.slice(0, MAX_ERROR_MESSAGE)}...` : message,
      },
    },
  };
}
