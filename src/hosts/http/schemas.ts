import { Type, type Static } from '@fastify/type-provider-typebox';
import { JOB_ID, MAX_VIDEO_NAME, OUTPUT_FILE } from '../../jobs/names.js';

/**
 * The API's request and response shapes, one source for validation, serialisation, TypeScript
 * types and the OpenAPI document at /api/openapi.json.
 */

export const ErrorBody = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: 'Stable error code, e.g. E_OPTION_INVALID' }),
      message: Type.String(),
      field: Type.Optional(Type.String({ description: 'The request field at fault, when one is' })),
    }),
  },
  { description: 'An error' },
);

/** Job ids: what JSON jobs may carry (section 3) and what the API generates (UUIDs). */
export const JOB_ID_PATTERN = JOB_ID.source;
/** Output file names the worker writes (strip.jpg, storyboard-0.jpg, manifest.json...). */
export const OUTPUT_FILE_PATTERN = OUTPUT_FILE.source;

export const Job = Type.Object(
  {
    id: Type.String(),
    video: Type.String({ description: 'Blob name in VIDEOCONTAINER' }),
    status: Type.Union([
      Type.Literal('queued'),
      Type.Literal('running'),
      Type.Literal('done'),
      Type.Literal('failed'),
    ]),
    progress: Type.Number({ minimum: 0, maximum: 1 }),
    phase: Type.Optional(Type.String()),
    attempts: Type.Integer({ minimum: 0, description: 'Deliveries so far' }),
    error: Type.Optional(
      Type.Object({ code: Type.String(), message: Type.String() }, { description: 'Why it failed' }),
    ),
    outputs: Type.Optional(
      Type.Record(Type.String(), Type.String(), { description: 'Output file name to blob URL' }),
    ),
    outputsTruncated: Type.Optional(
      Type.Boolean({ description: 'outputs holds only manifest.json, which lists every output' }),
    ),
    etag: Type.Optional(Type.String()),
    skipped: Type.Optional(Type.Boolean()),
    duplicateOf: Type.Optional(
      Type.String({ description: 'The job whose run this one joined (same video version and options)' }),
    ),
    createdAt: Type.String(),
    updatedAt: Type.String(),
    startedAt: Type.Optional(Type.String()),
    finishedAt: Type.Optional(Type.String()),
  },
  { description: 'A thumbnail job as the thumbnailjobs table keeps it' },
);
export type JobBody = Static<typeof Job>;

export const JobList = Type.Object({
  jobs: Type.Array(Job, { description: 'One page: table key order across pages, newest first within one' }),
  next: Type.Optional(
    Type.String({ description: 'More jobs may follow: GET /api/jobs?next=<this> (same filters)' }),
  ),
});

export const JobIdParams = Type.Object({ id: Type.String({ pattern: JOB_ID_PATTERN }) });

export const JobListQuery = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }),
  status: Type.Optional(
    Type.Union([
      Type.Literal('queued'),
      Type.Literal('running'),
      Type.Literal('done'),
      Type.Literal('failed'),
    ]),
  ),
  video: Type.Optional(Type.String({ minLength: 1, maxLength: MAX_VIDEO_NAME })),
  since: Type.Optional(
    Type.String({
      pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,3})?Z$',
      description: 'Only jobs updated at or after this UTC time (ISO 8601, e.g. 2026-01-31T12:00:00.000Z)',
    }),
  ),
  next: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 4096,
      pattern: '^[A-Za-z0-9_-]+$',
      description: 'The `next` of the previous page',
    }),
  ),
});

export const NewJob = Type.Object(
  {
    id: Type.Optional(Type.String({ pattern: JOB_ID_PATTERN })),
    video: Type.String({
      minLength: 1,
      maxLength: 4096,
      description: 'Blob name or blob URL of the account',
    }),
    options: Type.Optional(
      Type.Record(Type.String(), Type.Unknown(), {
        description: 'Job options of docs/contract.md section 5, camelCase (rows, cols, width, mode...)',
      }),
    ),
  },
  { additionalProperties: false },
);

export const UploadQuery = Type.Object({
  name: Type.String({ minLength: 1, maxLength: MAX_VIDEO_NAME, description: 'Blob name in VIDEOCONTAINER' }),
});

export const VideoParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: MAX_VIDEO_NAME }) });

export const OutputParams = Type.Object({
  name: Type.String({ minLength: 1, maxLength: MAX_VIDEO_NAME }),
  file: Type.String({ pattern: OUTPUT_FILE_PATTERN }),
});

export const FrameQuery = Type.Object({
  time: Type.Number({ minimum: 0, description: 'Seconds from the start, within the duration' }),
  width: Type.Integer({ minimum: 16, maximum: 1920, default: 320 }),
  mode: Type.Union([Type.Literal('fast'), Type.Literal('accurate')], { default: 'fast' }),
});

/** A file body (Buffer or stream; never serialised). */
export const Binary = Type.Unsafe<Buffer | NodeJS.ReadableStream>({
  type: 'string',
  format: 'binary',
  description: 'The file',
});

export const EventStream = Type.String({
  description:
    'text/event-stream; every event carries a Job as data: `progress` events (status, progress and phase changes), then one `done` or `failed` event, then the stream ends',
});

export const NotModified = Type.Unsafe<undefined>({ description: 'Not modified: If-None-Match matched' });
