import AjvDraft04 from 'ajv-draft-04';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  API_VERSIONS,
  buildAzureTemplate,
  buildParametersExample,
  type TemplateResource,
} from '../src/deploy/azure.js';
import { COMMITTED_AZURE_VARIANTS } from '../src/deploy/azure-committed.js';
import { parseAzureDeployOptions } from '../src/deploy/azure-options.js';
import { VARIANTS } from './support/azure-variants.js';

/**
 * The published ARM schemas (github.com/Azure/azure-resource-manager-schemas) are not in this
 * repository and no package ships them, so this check is not part of `npm test`: point
 * ARM_SCHEMAS_DIR at a checkout's `schemas/` folder and run `npm run validate:arm`.
 */
describe('deploy azure: validated against the published ARM schemas', () => {
  const dir = process.env.ARM_SCHEMAS_DIR;
  if (!dir || !existsSync(join(dir, '2019-04-01', 'deploymentTemplate.json'))) {
    throw new Error('set ARM_SCHEMAS_DIR to the schemas/ folder of Azure/azure-resource-manager-schemas');
  }
  const BASE = 'https://schema.management.azure.com/schemas/';

  async function validator() {
    const ajv = new AjvDraft04.default({ strict: false, allErrors: true, validateFormats: false });
    const load = async (path: string) =>
      JSON.parse(await readFile(join(dir!, path), 'utf8')) as Record<string, unknown>;
    ajv.addSchema(await load('common/definitions.json'), `${BASE}common/definitions.json`);
    const providers = new Set(Object.entries(API_VERSIONS).map(([ns, v]) => `${v}/${ns}.json`));
    for (const path of providers) ajv.addSchema(await load(path), `${BASE}${path}`);
    // The template schema lists every resource type of Azure; its generic resource fields are
    // checked here, and each resource against its own type's schema below.
    const template = await load('2019-04-01/deploymentTemplate.json');
    const definitions = template.definitions as Record<string, unknown>;
    definitions.resource = { $ref: '#/definitions/resourceBase' };
    ajv.addSchema(template, `${BASE}2019-04-01/deploymentTemplate.json`);
    ajv.addSchema(
      await load('2019-04-01/deploymentParameters.json'),
      `${BASE}2019-04-01/deploymentParameters.json`,
    );
    return ajv;
  }

  function resourceSchema(ajv: InstanceType<typeof AjvDraft04.default>, resource: TemplateResource): string {
    const [namespace, ...types] = resource.type.split('/');
    const file = `${BASE}${API_VERSIONS[namespace as keyof typeof API_VERSIONS]}/${namespace}.json`;
    const key = types.join('_');
    for (const group of [
      'resourceDefinitions',
      'extension_resourceDefinitions',
      'unknown_resourceDefinitions',
    ]) {
      const ref = `${file}#/${group}/${key}`;
      if (ajv.getSchema(ref)) return ref;
    }
    throw new Error(`no schema for ${resource.type} in ${file}`);
  }

  function check(ajv: InstanceType<typeof AjvDraft04.default>, ref: string, value: unknown, what: string) {
    const validate = ajv.getSchema(ref)!;
    assert.ok(validate(value), `${what}: ${ajv.errorsText(validate.errors, { separator: '\n' })}`);
  }

  test('each template, each resource and each parameters example', async () => {
    const ajv = await validator();
    const all = [...Object.values(VARIANTS), ...COMMITTED_AZURE_VARIANTS.map((v) => v.options)];
    for (const input of all) {
      const options = parseAzureDeployOptions(input);
      const template = buildAzureTemplate(options);
      check(ajv, `${BASE}2019-04-01/deploymentTemplate.json`, template, 'template');
      const resources = template.resources.flatMap((r) =>
        r.type === 'Microsoft.Resources/deployments' ? [r, ...r.properties.template.resources] : [r],
      );
      for (const r of resources) {
        // An extension resource's schema does not list `scope`, which ARM itself reads.
        const { scope: _scope, ...body } = r as TemplateResource & { scope?: string };
        // The container schema's `name` accepts no expression (the queue's and table's do): check
        // the name ARM resolves, with a sample account name, instead.
        const child =
          /^\[format\('\{0\}\/default\/\{1\}', parameters\('storageAccountName'\), '([^']+)'\)\]$/.exec(
            r.name,
          );
        if (child && r.type === 'Microsoft.Storage/storageAccounts/blobServices/containers') {
          body.name = `mediastore01/default/${child[1]}`;
        }
        // A deployment parameter's value is `oneOf: [{}, expression]`, which no expression can
        // satisfy (it matches both): check plain sample values in their place.
        if (body.type === 'Microsoft.Resources/deployments') {
          const samples = Object.keys(body.properties.parameters).map((k) => [k, { value: `sample-${k}` }]);
          body.properties = { ...body.properties, parameters: Object.fromEntries(samples) };
        }
        check(ajv, resourceSchema(ajv, r), body, `${r.type} ${r.name}`);
      }
      check(
        ajv,
        `${BASE}2019-04-01/deploymentParameters.json`,
        buildParametersExample(options),
        'parameters',
      );
    }
  });
});
