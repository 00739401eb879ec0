import { createHash } from 'node:crypto';
import { odata, type TableClient, type TableEntityResult } from '@azure/data-tables';
import { ThumbnailerError } from '../errors.js';
import { classifyStorageError, isConcurrencyConflict, storageError } from './errors.js';

export type JobStatus = 'queued' | 'running' | 'done' | 'failed';

export interface JobError {
  code: string;
  message: string;
}

/** A job as the table keeps it (docs/contract.md section 6 reads the same shape). */
export interface JobRecord {
  id: string;
  video: string;
  status: JobStatus;
  /** 0..1 while running, 1 when done. */
  progress: number;
  phase?: string;
  /** Deliveries so far. */
  attempts: number;
  error?: JobError;
  /** Output file name -> blob URL (no signature). */
  outputs?: Record<string, string>;
  /** True when `outputs` was cut to the manifest's URL to fit the table (the manifest lists all). */
  outputsTruncated?: boolean;
  /** The source's ETag the outputs were made from. */
  etag?: string;
  /** True when the job found its outputs already made and did no work. */
  skipped?: boolean;
  /**
   * The job whose run this one joined: the same work (video version and options) was in progress
   * under another job when this one came, so this one waited and ended with that run's outputs.
   */
  duplicateOf?: string;
  createdAt: string;
  updatedAt: string;
  startedAt?: string;
  finishedAt?: string;
}

export interface VideoClaim {
  /** Who holds it: the queue message id, so a redelivery of the same message may take over. */
  owner: string;
  /** What is being made: source ETag plus options digest. */
  key: string;
  /** The job the holder runs, so a duplicate can name the run it joins. */
  jobId?: string;
  expiresAt: number;
}

/** What `JobTable.page` may filter on; each filter runs in the table service, not here. */
export interface JobPageQuery {
  limit: number;
  status?: JobStatus;
  video?: string;
  /** Only jobs updated at or after this ISO time. */
  since?: string;
  /** The `next` of the previous page. */
  next?: string;
}

export interface JobPage {
  jobs: JobRecord[];
  /** Present when more jobs may follow: pass it back as `next`. */
  next?: string;
}

export type ClaimResult = { ok: true } | { ok: false; holder: VideoClaim };

const JOB_PARTITION = 'job';
const CLAIM_PARTITION = 'claim';

interface JobEntity {
  partitionKey: string;
  rowKey: string;
  video?: string;
  status?: string;
  progress?: number;
  phase?: string;
  attempts?: number;
  errorCode?: string;
  errorMessage?: string;
  /**
   * The outputs (see `encodeOutputs`): the URL prefix they all share, then JSON of each file's
   * rest, in `outputsChunks` properties `outputs`, `outputs1`, ... Older records hold the whole
   * file -> URL JSON in `outputs` alone, with no prefix.
   */
  outputsBase?: string;
  outputsChunks?: number;
  outputs?: string;
  outputsTruncated?: boolean;
  [chunk: `outputs${number}`]: string | undefined;
  etag?: string;
  skipped?: boolean;
  duplicateOf?: string;
  /** Canonical JSON of what was submitted (video and options): a resend must match it. */
  request?: string;
  createdAt?: string;
  updatedAt?: string;
  startedAt?: string;
  finishedAt?: string;
}

interface ClaimEntity {
  partitionKey: string;
  rowKey: string;
  owner: string;
  key: string;
  jobId?: string;
  expiresAt: number;
}

/**
 * A `next` of ours (the SDK's token, base64 JSON naming the next keys, in base64url) as the SDK's
 * token; anything else is a 400 naming `next`.
 */
function sdkContinuation(token: string): string {
  let parsed: unknown;
  const json = Buffer.from(token, 'base64url');
  try {
    parsed = JSON.parse(json.toString('utf8'));
  } catch {
    parsed = undefined;
  }
  const keys = parsed as { nextPartitionKey?: unknown; nextRowKey?: unknown } | undefined;
  if (
    !keys ||
    typeof keys !== 'object' ||
    typeof keys.nextPartitionKey !== 'string' ||
    (keys.nextRowKey !== undefined && typeof keys.nextRowKey !== 'string')
  ) {
    throw new ThumbnailerError('E_OPTION_INVALID', 'next is not a continuation token of this list', {
      field: 'next',
    });
  }
  return json.toString('base64');
}

const claimRow = (video: string) => createHash('sha256').update(video).digest('hex');

/**
 * A Table string property holds 32 K UTF-16 characters (64 KiB) and an entity 1 MiB: the outputs
 * of a long video with several storyboard widths are hundreds of URLs that each repeat the
 * account, the container and a video name of up to 1024 characters. They are kept as the prefix
 * every URL shares plus each file's rest (about the file name), in as many properties as needed.
 */
const OUTPUT_CHUNK_CHARS = 30_000;
/** 480 K characters: under the entity's 1 MiB with room for the other fields. */
const MAX_OUTPUT_CHUNKS = 16;

const chunkProperty = (i: number) => (i === 0 ? 'outputs' : `outputs${i}`) as 'outputs' | `outputs${number}`;

function commonPrefix(values: string[]): string {
  if (values.length === 0) return '';
  let prefix = values[0]!;
  for (const v of values) {
    let i = 0;
    while (i < prefix.length && i < v.length && prefix[i] === v[i]) i++;
    prefix = prefix.slice(0, i);
  }
  return prefix;
}

function encodeOutputs(outputs: Record<string, string>): Partial<JobEntity> {
  let base = commonPrefix(Object.values(outputs));
  let rest = Object.fromEntries(Object.entries(outputs).map(([file, url]) => [file, url.slice(base.length)]));
  let json = JSON.stringify(rest);
  let outputsTruncated: boolean | undefined;
  if (json.length > OUTPUT_CHUNK_CHARS * MAX_OUTPUT_CHUNKS) {
    // More than any caps allow today: keep the manifest, which lists every output.
    const manifest = Object.entries(outputs).filter(([file]) => file === 'manifest.json');
    base = '';
    rest = Object.fromEntries(manifest);
    json = JSON.stringify(rest);
    outputsTruncated = true;
  }
  const e: Partial<JobEntity> = { outputsBase: base, outputsTruncated: outputsTruncated ?? false };
  let chunks = 0;
  for (let at = 0; at < json.length || chunks === 0; at += OUTPUT_CHUNK_CHARS) {
    e[chunkProperty(chunks++)] = json.slice(at, at + OUTPUT_CHUNK_CHARS);
  }
  e.outputsChunks = chunks;
  return e;
}

function decodeOutputs(e: JobEntity): Record<string, string> | undefined {
  if (!e.outputs) return undefined;
  if (e.outputsBase === undefined) return JSON.parse(e.outputs) as Record<string, string>;
  let json = '';
  for (let i = 0; i < (e.outputsChunks ?? 1); i++) json += e[chunkProperty(i)] ?? '';
  const rest = JSON.parse(json) as Record<string, string>;
  return Object.fromEntries(Object.entries(rest).map(([file, tail]) => [file, e.outputsBase + tail]));
}

function toRecord(e: TableEntityResult<JobEntity>): JobRecord {
  return {
    id: e.rowKey!,
    video: e.video ?? '',
    status: (e.status as JobStatus) ?? 'queued',
    progress: e.progress ?? 0,
    phase: e.phase || undefined,
    attempts: e.attempts ?? 0,
    error: e.errorCode ? { code: e.errorCode, message: e.errorMessage ?? '' } : undefined,
    outputs: decodeOutputs(e),
    outputsTruncated: e.outputsTruncated || undefined,
    etag: e.etag || undefined,
    skipped: e.skipped || undefined,
    duplicateOf: e.duplicateOf || undefined,
    createdAt: e.createdAt ?? '',
    updatedAt: e.updatedAt ?? '',
    startedAt: e.startedAt || undefined,
    finishedAt: e.finishedAt || undefined,
  };
}

function toEntity(id: string, patch: Partial<JobRecord>): JobEntity {
  const e: JobEntity = { partitionKey: JOB_PARTITION, rowKey: id };
  if (patch.video !== undefined) e.video = patch.video;
  if (patch.status !== undefined) e.status = patch.status;
  if (patch.progress !== undefined) e.progress = patch.progress;
  if (patch.phase !== undefined) e.phase = patch.phase;
  if (patch.attempts !== undefined) e.attempts = patch.attempts;
  if ('error' in patch) {
    e.errorCode = patch.error?.code ?? '';
    e.errorMessage = patch.error?.message ?? '';
  }
  if (patch.outputs !== undefined) Object.assign(e, encodeOutputs(patch.outputs));
  if (patch.etag !== undefined) e.etag = patch.etag;
  if (patch.skipped !== undefined) e.skipped = patch.skipped;
  if (patch.duplicateOf !== undefined) e.duplicateOf = patch.duplicateOf;
  if (patch.createdAt !== undefined) e.createdAt = patch.createdAt;
  if (patch.startedAt !== undefined) e.startedAt = patch.startedAt;
  if (patch.finishedAt !== undefined) e.finishedAt = patch.finishedAt;
  e.updatedAt = new Date().toISOString();
  return e;
}

/**
 * The `thumbnailjobs` table: job state (partition `job`) and short claims on videos (partition
 * `claim`) so that two deliveries of the same work never encode at the same time.
 */
export class JobTable {
  readonly client: TableClient;

  constructor(client: TableClient) {
    this.client = client;
  }

  async ensure(): Promise<void> {
    try {
      await this.client.createTable();
    } catch (error) {
      throw storageError(error, `creating table ${this.client.tableName}`);
    }
  }

  async get(id: string): Promise<JobRecord | undefined> {
    try {
      return toRecord(await this.client.getEntity<JobEntity>(JOB_PARTITION, id));
    } catch (error) {
      if (classifyStorageError(error) === 'not-found') return undefined;
      throw storageError(error, `reading job ${id}`);
    }
  }

  /** Creates or merges a job's fields. */
  async update(id: string, patch: Partial<JobRecord>): Promise<void> {
    try {
      await this.client.upsertEntity(toEntity(id, patch), 'Merge');
    } catch (error) {
      throw storageError(error, `updating job ${id}`);
    }
  }

  /**
   * Records a new job, only if no job has this id: returns undefined when created, otherwise the
   * existing record and the request it was created for (so a resend can be told from a reuse).
   */
  async create(
    record: JobRecord,
    request: string,
  ): Promise<{ existing: JobRecord; request?: string } | undefined> {
    try {
      await this.client.createEntity({ ...toEntity(record.id, record), request });
      return undefined;
    } catch (error) {
      if (!isConcurrencyConflict(error)) throw storageError(error, `creating job ${record.id}`);
    }
    try {
      const entity = await this.client.getEntity<JobEntity>(JOB_PARTITION, record.id);
      return { existing: toRecord(entity), request: entity.request || undefined };
    } catch (error) {
      throw storageError(error, `reading job ${record.id}`);
    }
  }

  /** Newest first (by update time), at most `limit`. */
  async list(limit = 100): Promise<JobRecord[]> {
    const out: JobRecord[] = [];
    try {
      const pages = this.client
        .listEntities<JobEntity>({ queryOptions: { filter: `PartitionKey eq '${JOB_PARTITION}'` } })
        .byPage({ maxPageSize: 1000 });
      for await (const page of pages) {
        for (const e of page) out.push(toRecord(e));
        if (out.length >= 5000) break;
      }
    } catch (error) {
      throw storageError(error, 'listing jobs');
    }
    return out.sort((a, b) => b.updatedAt.localeCompare(a.updatedAt)).slice(0, limit);
  }

  /**
   * One page of jobs: a single table request of at most `limit` rows, in the table's key order,
   * filtered by the table service, newest first within the page. `next` continues where it stopped
   * (the table's continuation token); the service may answer fewer rows than `limit`, even none,
   * with a `next` still to follow.
   */
  async page(query: JobPageQuery): Promise<JobPage> {
    const filters = [odata`PartitionKey eq ${JOB_PARTITION}`];
    if (query.status) filters.push(odata`status eq ${query.status}`);
    if (query.video !== undefined) filters.push(odata`video eq ${query.video}`);
    if (query.since !== undefined) filters.push(odata`updatedAt ge ${query.since}`);
    const continuationToken = query.next === undefined ? undefined : sdkContinuation(query.next);
    try {
      const pages = this.client
        .listEntities<JobEntity>({ queryOptions: { filter: filters.join(' and ') } })
        .byPage({ maxPageSize: query.limit, continuationToken });
      const first = await pages.next();
      if (first.done) return { jobs: [] };
      const jobs = first.value.map(toRecord).sort((a, b) => b.updatedAt.localeCompare(a.updatedAt));
      const next = first.value.continuationToken;
      // base64url: safe in a query string as it is.
      return { jobs, next: next ? Buffer.from(next, 'base64').toString('base64url') : undefined };
    } catch (error) {
      throw storageError(error, 'listing jobs');
    }
  }

  /**
   * Claims a video for encoding. Succeeds when nobody holds it, the claim has expired, or the
   * holder is the same message (a redelivery after its worker died). Optimistic concurrency on the
   * entity's ETag settles races.
   */
  async claimVideo(video: string, claim: Omit<VideoClaim, 'expiresAt'>, ttlMs: number): Promise<ClaimResult> {
    const rowKey = claimRow(video);
    const entity: ClaimEntity = {
      partitionKey: CLAIM_PARTITION,
      rowKey,
      owner: claim.owner,
      key: claim.key,
      jobId: claim.jobId ?? '',
      expiresAt: Date.now() + ttlMs,
    };
    // The service's own answer to the last lost race: a 409 or 412, which storageError classifies.
    let conflict: unknown;
    for (let round = 0; round < 5; round++) {
      try {
        let current: TableEntityResult<ClaimEntity> | undefined;
        try {
          current = await this.client.getEntity<ClaimEntity>(CLAIM_PARTITION, rowKey);
        } catch (error) {
          if (classifyStorageError(error) !== 'not-found') throw error;
        }
        if (!current) {
          await this.client.createEntity(entity);
          return { ok: true };
        }
        const holder: VideoClaim = {
          owner: current.owner,
          key: current.key,
          jobId: current.jobId || undefined,
          expiresAt: current.expiresAt,
        };
        if (holder.owner !== claim.owner && holder.expiresAt > Date.now()) return { ok: false, holder };
        await this.client.updateEntity(entity, 'Replace', { etag: current.etag });
        return { ok: true };
      } catch (error) {
        if (!isConcurrencyConflict(error)) throw storageError(error, `claiming video ${video}`);
        conflict = error; // lost a race: read again
      }
    }
    // Lost every round: a conflict time resolves, transient like any other.
    throw storageError(conflict, `claiming video ${video} (contended)`);
  }

  /** Extends a claim this owner holds; false when it is no longer ours. */
  async renewClaim(video: string, owner: string, ttlMs: number): Promise<boolean> {
    const rowKey = claimRow(video);
    try {
      const current = await this.client.getEntity<ClaimEntity>(CLAIM_PARTITION, rowKey);
      if (current.owner !== owner) return false;
      await this.client.updateEntity(
        { partitionKey: CLAIM_PARTITION, rowKey, expiresAt: Date.now() + ttlMs },
        'Merge',
        { etag: current.etag },
      );
      return true;
    } catch (error) {
      // Gone, or changed by its new owner since we read it: not ours any more.
      if (classifyStorageError(error) === 'not-found' || isConcurrencyConflict(error)) return false;
      throw storageError(error, `renewing the claim on ${video}`);
    }
  }

  /** Drops a claim this owner holds (anyone else's stays). */
  async releaseClaim(video: string, owner: string): Promise<void> {
    const rowKey = claimRow(video);
    try {
      const current = await this.client.getEntity<ClaimEntity>(CLAIM_PARTITION, rowKey);
      if (current.owner !== owner) return;
      await this.client.deleteEntity(CLAIM_PARTITION, rowKey, { etag: current.etag });
    } catch (error) {
      if (classifyStorageError(error) === 'not-found' || isConcurrencyConflict(error)) return;
      throw storageError(error, `releasing the claim on ${video}`);
    }
  }
}
