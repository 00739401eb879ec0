import type { Readable } from 'node:stream';
import type { ContainerClient } from '@azure/storage-blob';
import {
  BlobSASPermissions,
  BlobServiceClient,
  SASProtocol,
  StorageSharedKeyCredential,
  generateBlobSASQueryParameters,
} from '@azure/storage-blob';
import type { RangedVideoSource } from '../engine/types.js';
import { ThumbnailerError } from '../errors.js';
import { storageError, unexpectedAnswer } from './errors.js';

export interface BlobProperties {
  name: string;
  size: number;
  etag: string;
  contentType?: string;
  lastModified?: Date;
}

export interface SignalOptions {
  signal?: AbortSignal;
}

export interface OpenVideoOptions extends SignalOptions {
  /** Called with the size of every range read, for metrics and the bench. */
  onBytesRead?: (bytes: number) => void;
}

/** A ranged source with its own byte counter. */
export interface CountedVideoSource extends RangedVideoSource {
  readonly etag: string;
  /** Bytes read through `read` so far (the fallback URL is not counted here). */
  bytesRead(): number;
}

export interface UploadOptions extends SignalOptions {
  contentType?: string;
  cacheControl?: string;
}

export interface DownloadOptions extends SignalOptions {
  /** First byte (default 0). */
  offset?: number;
  /** Bytes from `offset` (default: to the end). */
  count?: number;
  /** Fails (E_STORAGE_UNAVAILABLE, 412) when the blob is no longer this version. */
  ifMatch?: string;
}

const SAS_TTL_MS = 15 * 60_000;
const SAS_CLOCK_SKEW_MS = 5 * 60_000;

/** The SDK's URLs carry the SAS of a SAS connection string: drop it before showing a URL. */
function withoutQuery(url: string): string {
  const i = url.indexOf('?');
  return i < 0 ? url : url.slice(0, i);
}

async function streamToBuffer(stream: NodeJS.ReadableStream, expected: number): Promise<Uint8Array> {
  const out = Buffer.allocUnsafe(expected);
  let offset = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    if (offset + chunk.length > expected) throw unexpectedAnswer('a range response longer than requested');
    chunk.copy(out, offset);
    offset += chunk.length;
  }
  return offset === expected ? out : out.subarray(0, offset);
}

/**
 * Blob storage for the service: sources read by byte range (never a full download), outputs
 * uploaded from local files, short-lived read-only SAS URLs. Every SDK failure leaves as a
 * ThumbnailerError through `storageError`, so the worker only reads its verdict.
 */
export class BlobStore {
  readonly service: BlobServiceClient;
  readonly accountName: string;
  private readonly sharedKey?: StorageSharedKeyCredential;

  constructor(service: BlobServiceClient, accountName: string) {
    this.service = service;
    this.accountName = accountName;
    if (service.credential instanceof StorageSharedKeyCredential) this.sharedKey = service.credential;
  }

  /**
   * `https://acct.blob.core.windows.net/` or `http://127.0.0.1:10000/devstoreaccount1/`, never with
   * the query a SAS connection string puts on the SDK's URLs.
   */
  get endpoint(): string {
    const url = withoutQuery(this.service.url);
    return url.endsWith('/') ? url : `${url}/`;
  }

  container(name: string): ContainerClient {
    return this.service.getContainerClient(name);
  }

  /** Plain URL of a blob (no signature, even on a SAS connection): what job records and `submit` print. */
  url(container: string, name: string): string {
    return withoutQuery(this.container(container).getBlobClient(name).url);
  }

  async ensureContainer(name: string, options: SignalOptions = {}): Promise<void> {
    try {
      await this.container(name).createIfNotExists({ abortSignal: options.signal });
    } catch (error) {
      throw storageError(error, `creating container ${name}`);
    }
  }

  async getProperties(container: string, name: string, options: SignalOptions = {}): Promise<BlobProperties> {
    try {
      const p = await this.container(container)
        .getBlobClient(name)
        .getProperties({ abortSignal: options.signal });
      return {
        name,
        size: p.contentLength ?? 0,
        etag: p.etag ?? '',
        contentType: p.contentType,
        lastModified: p.lastModified,
      };
    } catch (error) {
      const e = storageError(error, `reading the properties of ${container}/${name}`);
      if (e.code === 'E_BLOB_NOT_FOUND') {
        throw new ThumbnailerError('E_BLOB_NOT_FOUND', `Blob ${container}/${name} does not exist`, {
          cause: error,
        });
      }
      throw e;
    }
  }

  /**
   * A source the engine reads by byte ranges through the SDK, pinned to the blob's current ETag
   * (a blob replaced mid-job fails the read with a transient error instead of mixing versions).
   */
  async openVideo(
    container: string,
    name: string,
    options: OpenVideoOptions = {},
  ): Promise<CountedVideoSource> {
    const props = await this.getProperties(container, name, options);
    const client = this.container(container).getBlobClient(name);
    let total = 0;
    const read = async (start: number, end: number, readOptions: { signal?: AbortSignal } = {}) => {
      const from = Math.max(0, Math.floor(start));
      const to = Math.min(props.size, Math.floor(end));
      if (to <= from) return new Uint8Array(0);
      try {
        const response = await client.download(from, to - from, {
          abortSignal: readOptions.signal ?? options.signal,
          conditions: props.etag ? { ifMatch: props.etag } : undefined,
        });
        const bytes = await streamToBuffer(response.readableStreamBody!, to - from);
        total += bytes.length;
        options.onBytesRead?.(bytes.length);
        return bytes;
      } catch (error) {
        throw storageError(error, `reading bytes ${from}-${to} of ${container}/${name}`);
      }
    };
    return {
      kind: 'ranged',
      name,
      size: props.size,
      etag: props.etag,
      read,
      fallbackUrl: () => this.readSasUrl(container, name),
      bytesRead: () => total,
    };
  }

  /**
   * A read-only SAS URL for one blob, valid for 15 minutes (from 5 minutes ago, for clock skew),
   * HTTPS only except against the emulator. Shared-key accounts sign with the key; identity-based
   * ones with a user delegation key.
   */
  async readSasUrl(container: string, name: string, ttlMs = SAS_TTL_MS): Promise<string> {
    const startsOn = new Date(Date.now() - SAS_CLOCK_SKEW_MS);
    const expiresOn = new Date(Date.now() + ttlMs);
    const client = this.container(container).getBlobClient(name);
    const protocol = client.url.startsWith('https:') ? SASProtocol.Https : SASProtocol.HttpsAndHttp;
    const values = {
      containerName: container,
      blobName: name,
      permissions: BlobSASPermissions.parse('r'),
      startsOn,
      expiresOn,
      protocol,
    };
    try {
      const query = this.sharedKey
        ? generateBlobSASQueryParameters(values, this.sharedKey)
        : generateBlobSASQueryParameters(
            values,
            await this.service.getUserDelegationKey(startsOn, expiresOn),
            this.accountName,
          );
      return `${client.url}?${query.toString()}`;
    } catch (error) {
      throw storageError(error, `signing a read URL for ${container}/${name}`);
    }
  }

  /** The text of a blob, or undefined when it does not exist. */
  async readText(container: string, name: string, options: SignalOptions = {}): Promise<string | undefined> {
    try {
      const buffer = await this.container(container)
        .getBlobClient(name)
        .downloadToBuffer(0, undefined, { abortSignal: options.signal });
      return buffer.toString('utf8');
    } catch (error) {
      const e = storageError(error, `reading ${container}/${name}`);
      if (e.code === 'E_BLOB_NOT_FOUND') return undefined;
      throw e;
    }
  }

  async uploadFile(
    container: string,
    name: string,
    path: string,
    options: UploadOptions = {},
  ): Promise<void> {
    try {
      await this.container(container)
        .getBlockBlobClient(name)
        .uploadFile(path, {
          abortSignal: options.signal,
          blobHTTPHeaders: { blobContentType: options.contentType, blobCacheControl: options.cacheControl },
          concurrency: 4,
        });
    } catch (error) {
      throw storageError(error, `uploading ${container}/${name}`);
    }
  }

  async uploadText(
    container: string,
    name: string,
    text: string,
    options: UploadOptions = {},
  ): Promise<void> {
    try {
      await this.container(container)
        .getBlockBlobClient(name)
        .upload(text, Buffer.byteLength(text), {
          abortSignal: options.signal,
          blobHTTPHeaders: { blobContentType: options.contentType, blobCacheControl: options.cacheControl },
        });
    } catch (error) {
      throw storageError(error, `uploading ${container}/${name}`);
    }
  }

  /**
   * Streams a request body (or any stream) into a block blob in 4 MiB blocks, never holding it
   * whole; the blob appears only when the last block is committed, so an aborted upload leaves
   * nothing behind (uncommitted blocks expire on their own).
   */
  async uploadStream(
    container: string,
    name: string,
    stream: Readable,
    options: UploadOptions = {},
  ): Promise<{ etag: string }> {
    try {
      const r = await this.container(container)
        .getBlockBlobClient(name)
        .uploadStream(stream, 4 * 1024 * 1024, 4, {
          abortSignal: options.signal,
          blobHTTPHeaders: { blobContentType: options.contentType, blobCacheControl: options.cacheControl },
        });
      return { etag: r.etag ?? '' };
    } catch (error) {
      throw storageError(error, `uploading ${container}/${name}`);
    }
  }

  /** A byte range of a blob as a stream (one ranged GET), for serving with HTTP range support. */
  async download(
    container: string,
    name: string,
    options: DownloadOptions = {},
  ): Promise<NodeJS.ReadableStream> {
    try {
      const r = await this.container(container)
        .getBlobClient(name)
        .download(options.offset ?? 0, options.count, {
          abortSignal: options.signal,
          conditions: options.ifMatch ? { ifMatch: options.ifMatch } : undefined,
        });
      return r.readableStreamBody!;
    } catch (error) {
      throw storageError(error, `reading ${container}/${name}`);
    }
  }

  /** Deletes a blob; a blob already gone is fine. */
  async delete(container: string, name: string, options: SignalOptions = {}): Promise<void> {
    try {
      await this.container(container).getBlobClient(name).deleteIfExists({ abortSignal: options.signal });
    } catch (error) {
      throw storageError(error, `deleting ${container}/${name}`);
    }
  }

  async list(container: string, prefix: string, options: SignalOptions = {}): Promise<BlobProperties[]> {
    const out: BlobProperties[] = [];
    try {
      for await (const item of this.container(container).listBlobsFlat({
        prefix,
        abortSignal: options.signal,
      })) {
        out.push({
          name: item.name,
          size: item.properties.contentLength ?? 0,
          etag: item.properties.etag ?? '',
          contentType: item.properties.contentType,
          lastModified: item.properties.lastModified,
        });
      }
    } catch (error) {
      throw storageError(error, `listing ${container}/${prefix}`);
    }
    return out;
  }
}
