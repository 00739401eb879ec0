import type { AzureDeployOptionsInput } from '../../src/deploy/azure-options.js';

export const ACR_IMAGE = 'mediaregistry.azurecr.io/video-thumbnailer-worker:1.2.3';

/** `deploy azure` inputs the tests build templates from, beside the committed variants. */
export const VARIANTS: Record<string, AzureDeployOptionsInput> = {
  'ACR image': { name: 'thumbs', image: ACR_IMAGE },
  'ACR image, API, region, registry group': {
    name: 'thumbs',
    image: ACR_IMAGE,
    api: true,
    location: 'swedencentral',
    registryResourceGroup: 'shared-images',
  },
  'public image, tuned, renamed storage': {
    name: 'media-thumbs',
    image: 'ghcr.io/example/video-thumbnailer-worker:2.0.0',
    maxExecutions: '50',
    jobTimeout: '7200',
    cpu: '4',
    queue: 'jobs-in',
    eventsQueue: 'jobs-done',
    videoContainer: 'raw',
    thumbnailContainer: 'out',
  },
};
