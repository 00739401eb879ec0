import { z } from 'zod';
import { CONTAINER_NAME, ENV_DEFAULTS, QUEUE_NAME, STORAGE_ACCOUNT_NAME } from '../config.js';
import { ThumbnailerError } from '../errors.js';

/**
 * The options of `thumbnailer deploy kubernetes`, validated once. Every key is the camelCase of
 * its flag, so a refused value is reported as `--flag-name`. The generator only ever sees the
 * parsed, defaulted `DeployOptions`.
 */

// RFC 1123 label: what Kubernetes accepts as a name and as a label value.
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
// [registry[:port]/]path[:tag][@sha256:digest], the reference grammar of the distribution spec.
export const IMAGE =
  /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** A storage queue name by the settings' rule (src/config.ts), `fallback` when absent. */
export const queueName = (fallback: string) => QUEUE_NAME.default(fallback);
/** A blob container name by the settings' rule (src/config.ts), `fallback` when absent. */
export const containerName = (fallback: string) => CONTAINER_NAME.default(fallback);
/** The names every deployment starts from: the settings' own defaults. */
export const NAME_DEFAULTS = {
  queue: ENV_DEFAULTS.THUMBNAIL_QUEUE,
  videoContainer: ENV_DEFAULTS.VIDEOCONTAINER,
  thumbnailContainer: ENV_DEFAULTS.THUMBNAILCONTAINER,
} as const;

export const HOSTS = ['worker', 'functions'] as const;
export const IDENTITIES = ['secret', 'workload'] as const;

/** A whole number given as a flag (a string) or by code (a number). */
export const int = (min: number, max: number) =>
  z
    .union([z.number(), z.string()], { message: 'must be a whole number' })
    .transform((v) => (typeof v === 'number' ? v : /^\s*-?\d+\s*$/.test(v) ? Number(v) : Number.NaN))
    .pipe(
      z
        .number({ message: 'must be a whole number' })
        .int({ message: 'must be a whole number' })
        .min(min, { message: `must be at least ${min}` })
        .max(max, { message: `must be at most ${max}` }),
    );

const schema = z
  .object({
    name: z
      .string({ message: 'is required' })
      .max(50, { message: 'must be at most 50 characters (Jobs and labels derive names from it)' })
      .regex(DNS_LABEL, { message: 'must be lowercase letters, digits and hyphens (a DNS label)' }),
    image: z.string({ message: 'is required' }).regex(IMAGE, {
      message: 'must be an image reference such as myacr.azurecr.io/video-thumbnailer:1.0.0',
    }),
    namespace: z
      .string()
      .max(63, { message: 'must be at most 63 characters' })
      .regex(DNS_LABEL, { message: 'must be lowercase letters, digits and hyphens (a DNS label)' })
      .optional(),
    host: z.enum(HOSTS, { message: 'must be worker or functions' }).default('worker'),
    scaledJob: z.boolean().default(false),
    minReplicas: int(0, 1000).default(0),
    maxReplicas: int(1, 1000).default(10),
    queueLength: int(1, 64).optional(),
    pollingInterval: int(5, 3600).default(15),
    cooldownPeriod: int(30, 86_400).default(300),
    graceSeconds: int(10, 3600).default(120),
    jobTimeout: int(60, 86_400).default(3600),
    tempDiskGib: int(1, 1024).default(4),
    identity: z.enum(IDENTITIES, { message: 'must be secret or workload' }).default('secret'),
    storageAccount: STORAGE_ACCOUNT_NAME.optional(),
    clientId: z
      .string()
      .regex(GUID, { message: 'must be a GUID (the managed identity client ID)' })
      .optional(),
    tenantId: z
      .string()
      .regex(GUID, { message: 'must be a GUID (the Microsoft Entra tenant ID)' })
      .optional(),
    virtualNodes: z.boolean().default(false),
    queue: queueName(NAME_DEFAULTS.queue),
    videoContainer: containerName(NAME_DEFAULTS.videoContainer),
    thumbnailContainer: containerName(NAME_DEFAULTS.thumbnailContainer),
  })
  .superRefine((o, ctx) => {
    const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
    if (o.minReplicas > o.maxReplicas)
      issue('minReplicas', `must not exceed --max-replicas (${o.maxReplicas})`);
    if (o.scaledJob && o.host === 'functions') {
      issue(
        'scaledJob',
        'runs `thumbnailer worker --once` per message; it cannot be combined with --host functions',
      );
    }
    if (o.scaledJob && o.queueLength !== undefined && o.queueLength !== 1) {
      issue('queueLength', 'must be 1 with --scaled-job (each Job takes exactly one message)');
    }
    if (o.identity === 'workload') {
      if (!o.storageAccount) issue('storageAccount', 'is required with --identity workload');
      if (!o.clientId) issue('clientId', 'is required with --identity workload');
    } else {
      if (o.clientId) issue('clientId', 'only applies with --identity workload');
      if (o.tenantId) issue('tenantId', 'only applies with --identity workload');
    }
    if (o.videoContainer === o.thumbnailContainer) {
      issue('thumbnailContainer', 'must differ from --video-container');
    }
  });

export type DeployOptionsInput = z.input<typeof schema>;

export interface DeployOptions extends Omit<z.output<typeof schema>, 'queueLength'> {
  /** Messages one pod works on at once: the KEDA target per replica and the worker's concurrency. */
  queueLength: number;
}

/** camelCase option key to its flag: `maxReplicas` -> `--max-replicas`. */
export function deployFlag(key: string): string {
  return '--' + key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}

/**
 * Validates and defaults the options. Throws `E_OPTION_INVALID` naming the first bad flag, e.g.
 * "Invalid --max-replicas: must be at least 1".
 */
export function parseDeployOptions(input: DeployOptionsInput): DeployOptions {
  const result = schema.safeParse(input);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const key = String(issue.path[0] ?? 'options');
    throw new ThumbnailerError('E_OPTION_INVALID', `Invalid ${deployFlag(key)}: ${issue.message}`);
  }
  const o = result.data;
  return { ...o, queueLength: o.scaledJob ? 1 : (o.queueLength ?? 2) };
}
