import { parseAzureDeployOptions, type AzureDeployOptionsInput } from './azure-options.js';
import { buildAzureTemplate, buildParametersExample, toJson } from './azure.js';

/**
 * The templates committed under deploy/azure/, each printed by the same builder as
 * `thumbnailer deploy azure --dry-run`. A test keeps the files identical to this output;
 * `node --import tsx scripts/generate-manifests.ts` rewrites them.
 */

export interface CommittedAzureVariant {
  /** Directory under deploy/azure/ ('' for deploy/azure itself). */
  dir: string;
  /** The command line that prints the same template. */
  command: string;
  options: AzureDeployOptionsInput;
}

/** An Azure Container Registry image: the template then pulls it with the identity (AcrPull). */
export const PLACEHOLDER_ACR_IMAGE = 'thumbnailerregistry.azurecr.io/video-thumbnailer-worker:1.0.0';
const base = { name: 'thumbnailer', image: PLACEHOLDER_ACR_IMAGE } as const;
const cli = `thumbnailer deploy azure --name thumbnailer --image ${PLACEHOLDER_ACR_IMAGE}`;

export const COMMITTED_AZURE_VARIANTS: readonly CommittedAzureVariant[] = [
  { dir: '', command: `${cli} --dry-run`, options: { ...base } },
  { dir: 'with-api', command: `${cli} --api --dry-run`, options: { ...base, api: true } },
];

/** Relative path (under deploy/azure/) to file content, for every committed variant. */
export function committedAzureFiles(): Map<string, string> {
  const files = new Map<string, string>();
  for (const variant of COMMITTED_AZURE_VARIANTS) {
    const options = parseAzureDeployOptions(variant.options);
    const prefix = variant.dir ? `${variant.dir}/` : '';
    files.set(`${prefix}main.json`, toJson(buildAzureTemplate(options)));
    files.set(`${prefix}main.parameters.example.json`, toJson(buildParametersExample(options)));
  }
  return files;
}
