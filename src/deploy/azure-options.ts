import { z } from 'zod';
import { ThumbnailerError } from '../errors.js';
import { poisonQueueName } from '../config.js';
import { containerName, deployFlag, IMAGE, int, NAME_DEFAULTS, queueName } from './options.js';

/**
 * The options of `thumbnailer deploy azure`, validated once, each key the camelCase of its flag so
 * that a refused value is reported as `--flag-name`. The template builder only ever sees the
 * parsed, defaulted `AzureDeployOptions`.
 */

/**
 * Container Apps names: lowercase letters, digits and single hyphens, starting with a letter, at
 * most 32 characters. The longest derived name is `<name>-worker`, hence 24 here.
 */
const NAME = /^(?=.{2,24}$)[a-z](?:[a-z0-9]|-(?!-))*[a-z0-9]$/;
// An Azure region's programmatic name: westeurope, eastus2, swedencentral.
const LOCATION = /^[a-z][a-z0-9]{2,39}$/;
const RESOURCE_GROUP = /^[-\w.()]{1,89}[-\w()]$/;

/** vCPU a job execution (or the API replica) gets; memory is twice as many GiB (Consumption profile). */
export const CPU_CHOICES = ['0.5', '1', '1.5', '2', '3', '4'] as const;

/** The value of every flag with a default, once: the schema applies them, the command line omits them. */
export const AZURE_DEFAULTS = {
  maxExecutions: 10,
  pollingInterval: 15,
  jobTimeout: 3600,
  graceSeconds: 120,
  cpu: '2',
  queue: NAME_DEFAULTS.queue,
  eventsQueue: 'thumbnail-events',
  videoContainer: NAME_DEFAULTS.videoContainer,
  thumbnailContainer: NAME_DEFAULTS.thumbnailContainer,
} as const satisfies Record<string, number | string>;

const schema = z
  .object({
    name: z.string({ message: 'is required' }).regex(NAME, {
      message:
        'must be 2-24 lowercase letters, digits and single hyphens, starting with a letter (Container Apps names derive from it)',
    }),
    image: z.string({ message: 'is required' }).regex(IMAGE, {
      message: 'must be an image reference such as myacr.azurecr.io/video-thumbnailer-worker:1.0.0',
    }),
    location: z
      .string()
      .regex(LOCATION, { message: 'must be an Azure region name such as westeurope or eastus2' })
      .optional(),
    api: z.boolean().default(false),
    maxExecutions: int(1, 1000).default(AZURE_DEFAULTS.maxExecutions),
    pollingInterval: int(5, 3600).default(AZURE_DEFAULTS.pollingInterval),
    jobTimeout: int(60, 86_000).default(AZURE_DEFAULTS.jobTimeout),
    graceSeconds: int(10, 600).default(AZURE_DEFAULTS.graceSeconds),
    cpu: z
      .enum(CPU_CHOICES, { message: `must be one of ${CPU_CHOICES.join(', ')}` })
      .default(AZURE_DEFAULTS.cpu),
    registryResourceGroup: z
      .string()
      .regex(RESOURCE_GROUP, { message: 'must be a resource group name' })
      .optional(),
    queue: queueName(AZURE_DEFAULTS.queue),
    eventsQueue: queueName(AZURE_DEFAULTS.eventsQueue),
    videoContainer: containerName(AZURE_DEFAULTS.videoContainer),
    thumbnailContainer: containerName(AZURE_DEFAULTS.thumbnailContainer),
  })
  .strict()
  .superRefine((o, ctx) => {
    const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
    if (o.videoContainer === o.thumbnailContainer) {
      issue('thumbnailContainer', 'must differ from --video-container');
    }
    const queues = [o.queue, poisonQueueName(o.queue)];
    if (queues.includes(o.eventsQueue)) {
      issue('eventsQueue', 'must differ from the request queue and its poison queue');
    }
    if (o.registryResourceGroup && !acrRegistry(o.image)) {
      issue(
        'registryResourceGroup',
        'only applies to an image in an Azure Container Registry (*.azurecr.io)',
      );
    }
  });

export type AzureDeployOptionsInput = z.input<typeof schema>;
export type AzureDeployOptions = z.output<typeof schema>;

/** The registry name when the image is in Azure Container Registry (`myacr.azurecr.io/...`). */
export function acrRegistry(image: string): { server: string; name: string } | undefined {
  const match = /^([a-z0-9]{5,50})\.azurecr\.io\//i.exec(image);
  if (!match) return undefined;
  return { server: `${match[1]!.toLowerCase()}.azurecr.io`, name: match[1]!.toLowerCase() };
}

/**
 * Validates and defaults the options. Throws `E_OPTION_INVALID` naming the first bad flag, e.g.
 * "Invalid --max-executions: must be at least 1".
 */
export function parseAzureDeployOptions(input: AzureDeployOptionsInput): AzureDeployOptions {
  const result = schema.safeParse(input);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    if (issue.code === 'unrecognized_keys') {
      throw new ThumbnailerError('E_OPTION_INVALID', `Unknown option ${deployFlag(String(issue.keys[0]))}`);
    }
    const key = String(issue.path[0] ?? 'options');
    throw new ThumbnailerError('E_OPTION_INVALID', `Invalid ${deployFlag(key)}: ${issue.message}`);
  }
  return result.data;
}
