import { ThumbnailerError } from '../errors.js';
import { JOB_ID, MAX_VIDEO_NAME } from './names.js';

/**
 * The queue message parser (docs/contract.md section 3): a blob name, a blob URL of the configured
 * account, a JSON job, or an Event Grid BlobCreated event (Event Grid schema or CloudEvents 1.0),
 * each base64-encoded or plain. Pure: no I/O.
 */

export interface MessageContext {
  videoContainer: string;
  /** The account's blob service URL, e.g. `https://acct.blob.core.windows.net/`. */
  blobEndpoint: string;
  accountName: string;
}

export type MessageForm = 'name' | 'url' | 'json' | 'event-grid' | 'cloud-event';

export type ParsedMessage =
  | {
      kind: 'job';
      form: MessageForm;
      /** Blob name inside VIDEOCONTAINER, validated. */
      video: string;
      /** Job id from a JSON job or an event, when given. */
      id?: string;
      /** Raw options of a JSON job; validated by the job with parseGenerateOptions. */
      options?: Record<string, unknown>;
      /** Whether the body was base64. */
      base64: boolean;
    }
  | { kind: 'ignore'; form: MessageForm; reason: string; base64: boolean };

const MAX_SEGMENTS = 200;
const MAX_BODY = 64 * 1024;
// C0 and C1 controls, DEL, and the Unicode line/paragraph separators.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
// With the u flag a surrogate pair is one code point, so only unpaired halves match.
const LONE_SURROGATE = /\p{Cs}/u;

const invalid = (message: string, field?: string) =>
  new ThumbnailerError('E_MESSAGE_INVALID', message, { field });
const refused = (message: string) => new ThumbnailerError('E_URL_REFUSED', message);

/** The same error, naming the field at fault. */
function withField(error: unknown, field: string): unknown {
  if (!ThumbnailerError.is(error) || error.field) return error;
  return new ThumbnailerError(error.code, error.message, { cause: error.cause, field });
}

/** Shortens and neutralises user text quoted in a reason. */
function quote(text: string, max = 80): string {
  const clean = JSON.stringify(text.length > max ? `${text.slice(0, max)}...` : text);
  return clean.replace(/([?&]sig=)[^&"]*/gi, '$1REDACTED');
}

/**
 * Validates a blob name so that no output can land outside `THUMBNAILCONTAINER/<video>/`: no
 * leading or trailing slash, no empty, `.` or `..` segment, no backslash, no control character,
 * bounded length and depth.
 */
export function validateBlobName(name: string): string {
  if (name.length === 0) throw invalid('The video name is empty');
  if (name.length > MAX_VIDEO_NAME)
    throw invalid(`The video name is longer than ${MAX_VIDEO_NAME} characters`);
  if (CONTROL.test(name)) throw invalid('The video name contains a control character');
  // A lone UTF-16 surrogate (from a JSON "\ud800" escape) is no text: no URL or blob can carry it.
  if (LONE_SURROGATE.test(name))
    throw invalid('The video name contains a lone surrogate (not valid Unicode)');
  if (name.includes('\\')) throw invalid(`The video name ${quote(name)} contains a backslash`);
  if (name.startsWith('/')) throw invalid(`The video name ${quote(name)} starts with "/"`);
  if (name.endsWith('/')) throw invalid(`The video name ${quote(name)} ends with "/"`);
  const segments = name.split('/');
  if (segments.length > MAX_SEGMENTS) throw invalid(`The video name has more than ${MAX_SEGMENTS} segments`);
  for (const s of segments) {
    if (s === '') throw invalid(`The video name ${quote(name)} contains an empty segment`);
    if (s === '.' || s === '..') throw invalid(`The video name ${quote(name)} contains a "${s}" segment`);
    if (s.trim() !== s || s.endsWith('.')) {
      throw invalid(`The video name ${quote(name)} has a segment with surrounding spaces or a trailing dot`);
    }
  }
  return name;
}

/** The body as text: base64 decoded when it is base64 of UTF-8 text, else as it came. */
export function decodeBody(body: string): { text: string; base64: boolean } {
  const t = body.trim();
  if (t.length > 0 && t.length % 4 === 0 && /^[A-Za-z0-9+/]+={0,2}$/.test(t)) {
    try {
      const text = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(t, 'base64'));
      // Plain names can look like base64 by chance; accept the decoding only when it is text.
      // eslint-disable-next-line no-control-regex
      if (text.trim().length > 0 && !/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(text)) {
        return { text, base64: true };
      }
    } catch {
      // not UTF-8: the body is plain text
    }
  }
  return { text: body, base64: false };
}

interface BlobRef {
  container: string;
  name: string;
}

/**
 * Splits a blob URL of the configured account into container and name; anything else (another
 * account or host, credentials in the URL, a non-HTTP scheme) is refused.
 */
export function blobFromUrl(raw: string, ctx: MessageContext): BlobRef {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalid(`The message is not a valid URL: ${quote(raw)}`);
  }
  const endpoint = new URL(ctx.blobEndpoint.endsWith('/') ? ctx.blobEndpoint : `${ctx.blobEndpoint}/`);
  const shown = `${url.protocol}//${url.host}${url.pathname.slice(0, 80)}`;
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw refused(`Only http(s) blob URLs are accepted: ${quote(shown)}`);
  if (url.username || url.password) throw refused('Blob URLs with credentials are refused');
  const sameHost =
    url.host.toLowerCase() === endpoint.host.toLowerCase() && url.protocol === endpoint.protocol;
  if (!sameHost || !url.pathname.startsWith(endpoint.pathname)) {
    throw refused(
      `The URL ${quote(shown)} is not in the configured storage account ${quote(ctx.accountName)}`,
    );
  }
  const rest = url.pathname.slice(endpoint.pathname.length);
  const slash = rest.indexOf('/');
  if (slash <= 0 || slash === rest.length - 1) throw invalid(`The URL ${quote(shown)} does not name a blob`);
  let container: string;
  let name: string;
  try {
    container = decodeURIComponent(rest.slice(0, slash));
    name = decodeURIComponent(rest.slice(slash + 1));
  } catch {
    throw invalid(`The URL ${quote(shown)} is not correctly percent-encoded`);
  }
  return { container, name };
}

function nameOrUrl(value: string, ctx: MessageContext, what: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
    const ref = blobFromUrl(value, ctx);
    if (ref.container !== ctx.videoContainer) {
      throw refused(
        `${what} names a blob in container ${quote(ref.container)}, not in ${quote(ctx.videoContainer)}`,
      );
    }
    return validateBlobName(ref.name);
  }
  return validateBlobName(value);
}

const BLOB_CREATED = 'Microsoft.Storage.BlobCreated';

function parseEvent(event: Record<string, unknown>, ctx: MessageContext, base64: boolean): ParsedMessage {
  const cloud = typeof event.specversion === 'string';
  const form: MessageForm = cloud ? 'cloud-event' : 'event-grid';
  const type = cloud ? event.type : event.eventType;
  if (typeof type !== 'string') throw invalid('The event has no type');
  if (type !== BLOB_CREATED)
    return { kind: 'ignore', form, base64, reason: `event type ${type} is not handled` };
  const data = (event.data ?? {}) as Record<string, unknown>;
  const id = typeof event.id === 'string' && JOB_ID.test(event.id) ? event.id : undefined;
  // The account the event comes from: data.url names it; topic/source carries it too.
  const origin = cloud ? event.source : event.topic;
  if (typeof origin === 'string') {
    const m = /\/storageAccounts\/([^/]+)/i.exec(origin);
    if (m && ctx.accountName && m[1]!.toLowerCase() !== ctx.accountName.toLowerCase()) {
      throw refused(
        `The event comes from storage account ${quote(m[1]!)}, not the configured ${quote(ctx.accountName)}`,
      );
    }
  }
  let ref: BlobRef;
  if (typeof data.url === 'string') {
    ref = blobFromUrl(data.url, ctx);
  } else if (typeof event.subject === 'string') {
    const m = /^\/blobServices\/default\/containers\/([^/]+)\/blobs\/(.+)$/.exec(event.subject);
    if (!m) throw invalid(`The event subject ${quote(event.subject)} does not name a blob`);
    ref = { container: m[1]!, name: m[2]! };
  } else {
    throw invalid('The event names no blob (no data.url, no subject)');
  }
  if (ref.container !== ctx.videoContainer) {
    return {
      kind: 'ignore',
      form,
      base64,
      reason: `blob in container ${ref.container}, not ${ctx.videoContainer}`,
    };
  }
  return { kind: 'job', form, video: validateBlobName(ref.name), id, base64 };
}

function parseJson(text: string, ctx: MessageContext, base64: boolean): ParsedMessage {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw invalid('The message looks like JSON but does not parse');
  }
  if (Array.isArray(value)) {
    if (value.length !== 1)
      throw invalid(`The message is a JSON array of ${value.length} items; expected one event`);
    value = value[0];
  }
  if (!value || typeof value !== 'object' || Array.isArray(value))
    throw invalid('The JSON message is not an object');
  const o = value as Record<string, unknown>;
  if ('specversion' in o || 'eventType' in o) return parseEvent(o, ctx, base64);

  const unknown = Object.keys(o).filter((k) => k !== 'id' && k !== 'video' && k !== 'options');
  if (unknown.length > 0)
    throw invalid(
      `The JSON job has unknown field(s) ${unknown.map((k) => quote(k, 40)).join(', ')}`,
      unknown[0],
    );
  if (typeof o.video !== 'string') throw invalid('The JSON job needs "video": a blob name or URL', 'video');
  if (o.id !== undefined && (typeof o.id !== 'string' || !JOB_ID.test(o.id))) {
    throw invalid('The JSON job "id" must be 1-128 letters, digits, ".", "_" or "-"', 'id');
  }
  if (o.options !== undefined && (!o.options || typeof o.options !== 'object' || Array.isArray(o.options))) {
    throw invalid('The JSON job "options" must be an object', 'options');
  }
  let video: string;
  try {
    video = nameOrUrl(o.video, ctx, 'The JSON job');
  } catch (error) {
    throw withField(error, 'video');
  }
  return {
    kind: 'job',
    form: 'json',
    video,
    id: o.id as string | undefined,
    options: o.options as Record<string, unknown> | undefined,
    base64,
  };
}

function parseText(text: string, ctx: MessageContext, base64: boolean): ParsedMessage {
  const t = text.trim();
  if (t.length === 0) throw invalid('The message is empty');
  if (t.startsWith('{') || t.startsWith('[')) return parseJson(t, ctx, base64);
  if (t.startsWith('"')) {
    // A JSON-encoded string (some tools quote the name or URL): read what it holds.
    let inner: unknown;
    try {
      inner = JSON.parse(t);
    } catch {
      throw invalid('The message starts with a quote but is not a JSON string');
    }
    if (typeof inner !== 'string' || inner.trim().startsWith('"'))
      throw invalid('The message is not a usable JSON string');
    return parseText(inner, ctx, base64);
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(t)) {
    return { kind: 'job', form: 'url', video: nameOrUrl(t, ctx, 'The URL'), base64 };
  }
  return { kind: 'job', form: 'name', video: validateBlobName(t), base64 };
}

/**
 * Parses one queue message body. Returns a job, or `ignore` for events the service must
 * acknowledge without work; throws a permanent ThumbnailerError (`E_MESSAGE_INVALID`,
 * `E_URL_REFUSED`) whose message is the poison reason.
 */
export function parseMessage(body: string, ctx: MessageContext): ParsedMessage {
  if (body.length > MAX_BODY) throw invalid(`The message is larger than ${MAX_BODY} bytes`);
  // A body that is base64 of UTF-8 text is read decoded (what the Functions host and SDKs write);
  // plain names rarely are, and those that are would decode to control bytes or invalid UTF-8.
  const decoded = decodeBody(body);
  return parseText(decoded.text, ctx, decoded.base64);
}
