import { z } from 'zod';
import { ThumbnailerError } from '../errors.js';
import { containerName, deployFlag, IMAGE, int, queueName } from './options.js';

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
    maxExecutions: int(1, 1000).default(10),
    pollingInterval: int(5, 3600).default(15),
    jobTimeout: int(60, 86_000).default(3600),
    graceSeconds: int(10, 600).default(120),
    cpu: z.enum(CPU_CHOICES, { message: `must be one of ${CPU_CHOICES.join(', ')}` }).default('2'),
    registryResourceGroup: z
      .string()
      .regex(RESOURCE_GROUP, { message: 'must be a resource group name' })
      .optional(),
    queue: queueName('thumbnail-requests'),
    eventsQueue: queueName('thumbnail-events'),
    videoContainer: containerName('videos'),
    thumbnailContainer: containerName('thumbnails'),
  })
  .strict()
  .superRefine((o, ctx) => {
    const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
    if (o.videoContainer === o.thumbnailContainer) {
      issue('thumbnailContainer', 'must differ from --video-container');
    }
    const queues = [o.queue, `${o.queue}-poison`];
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
