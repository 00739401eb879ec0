import type { JobScaleRule } from '@azure/arm-appcontainers';
import type { StorageQueueEventSubscriptionDestination } from '@azure/arm-eventgrid';
import { createSerializer, type CompositeMapper } from '@azure/core-client';
import AjvDraft04 from 'ajv-draft-04';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import * as prettier from 'prettier';
import { loadSettings } from '../src/config.js';
import {
  API_VERSIONS,
  azureResourceNames,
  BUILT_IN_ROLES,
  buildAzureTemplate,
  buildParametersExample,
  replicaTimeoutSeconds,
  toJson,
  type DeploymentTemplate,
  type EventSubscriptionResource,
  type JobResource,
  type RoleAssignmentResource,
  type StorageQueueDestinationWire,
  type TemplateResource,
} from '../src/deploy/azure.js';
import { COMMITTED_AZURE_VARIANTS, committedAzureFiles } from '../src/deploy/azure-committed.js';
import { parseAzureDeployOptions, type AzureDeployOptionsInput } from '../src/deploy/azure-options.js';
import { ONCE_WAIT_SECONDS } from '../src/deploy/manifests.js';
import { ThumbnailerError } from '../src/errors.js';
import { parseMessage } from '../src/hosts/worker/messages.js';

const run = promisify(execFile);
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const committedRoot = join(root, 'deploy', 'azure');
const require = createRequire(import.meta.url);

const ACR_IMAGE = 'mediaregistry.azurecr.io/video-thumbnailer-worker:1.2.3';
const VARIANTS: Record<string, AzureDeployOptionsInput> = {
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

/** The built-in role IDs, as Microsoft publishes them ("Azure built-in roles"). */
const PUBLISHED_ROLE_IDS = {
  'Storage Blob Data Contributor': 'ba92f5b4-2d11-453d-a403-e96b0029c9fe',
  'Storage Queue Data Contributor': '974c5e8b-45b9-4653-ba55-5f855dd0fb88',
  'Storage Queue Data Message Sender': 'c6a89b2d-59bc-44d0-9896-0f6e12d7b80a',
  'Storage Table Data Contributor': '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3',
  AcrPull: '7f951dda-4ed3-4680-a7ca-43fe172d538d',
};

function build(input: AzureDeployOptionsInput) {
  const options = parseAzureDeployOptions(input);
  const template = buildAzureTemplate(options);
  const of = <T extends TemplateResource['type']>(type: T) =>
    template.resources.filter((r): r is Extract<TemplateResource, { type: T }> => r.type === type);
  return { options, template, of, names: azureResourceNames(options.name) };
}

/** The single resource of a type. */
function one<T extends TemplateResource['type']>(
  of: (type: T) => Extract<TemplateResource, { type: T }>[],
  type: T,
): Extract<TemplateResource, { type: T }> {
  const found = of(type);
  assert.equal(found.length, 1, type);
  return found[0]!;
}

/** The last segment of a `format('{0}/default/{1}', ..., 'x')` child name. */
function childName(name: string): string {
  const match = /'([^']+)'\)\]$/.exec(name);
  assert.ok(match, name);
  return match[1]!;
}

/** The role GUID of a `subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '<guid>')`. */
function roleGuid(assignment: RoleAssignmentResource): string {
  const match = /roleDefinitions', '([0-9a-f-]{36})'\)\]$/.exec(assignment.properties.roleDefinitionId);
  assert.ok(match, assignment.properties.roleDefinitionId);
  return match[1]!;
}

/** Text of a value with its `dependsOn` left out (what the resource refers to). */
function bodyText(resource: TemplateResource): string {
  const { dependsOn: _ignored, ...body } = resource;
  if (body.type === 'Microsoft.Resources/deployments') {
    // The nested template evaluates in its own scope; only what is passed in refers outside.
    return JSON.stringify({ ...body, properties: { ...body.properties, template: undefined } });
  }
  return JSON.stringify(body);
}

/** Every `resourceId(...)`, the ID expressions the builder writes, with balanced parentheses. */
function idExpressions(text: string): string[] {
  const found: string[] = [];
  for (const start of ['resourceId(', 'extensionResourceId(']) {
    let at = text.indexOf(start);
    while (at >= 0) {
      const preceded = text.slice(Math.max(0, at - 9), at);
      if (start === 'extensionResourceId(' || !preceded.endsWith('extension')) {
        let depth = 0;
        let end = at + start.length - 1;
        for (; end < text.length; end++) {
          if (text[end] === '(') depth++;
          if (text[end] === ')' && --depth === 0) break;
        }
        found.push(text.slice(at, end + 1));
      }
      at = text.indexOf(start, at + 1);
    }
  }
  return found;
}

/** The ID expression of a resource of the template (what another resource's `dependsOn` names). */
function idOf(resource: TemplateResource): string | undefined {
  const quote = (s: string) => (s.startsWith('parameters(') ? s : `'${s}'`);
  if (resource.type === 'Microsoft.Authorization/roleAssignments') {
    const guid = resource.name.slice(1, -1);
    const scope = idExpressions(guid)[0]!;
    return `extensionResourceId(${scope}, 'Microsoft.Authorization/roleAssignments', ${guid})`;
  }
  if (resource.scope) return undefined; // diagnostic settings: nothing depends on them
  let segments: string[];
  const format = /^\[format\('\{0\}\/default\/\{1\}', (parameters\('\w+'\)), '([^']+)'\)\]$/.exec(
    resource.name,
  );
  if (format) segments = [format[1]!, 'default', format[2]!];
  else if (/^\[parameters\('\w+'\)\]$/.test(resource.name)) segments = [resource.name.slice(1, -1)];
  else segments = resource.name.split('/');
  return `resourceId('${resource.type}', ${segments.map(quote).join(', ')})`;
}

function rejects(input: Record<string, unknown>, flag: string, pattern: RegExp) {
  assert.throws(
    () => parseAzureDeployOptions({ name: 'thumbs', image: ACR_IMAGE, ...input } as AzureDeployOptionsInput),
    (error: unknown) =>
      ThumbnailerError.is(error) &&
      error.code === 'E_OPTION_INVALID' &&
      error.message.startsWith(`Invalid ${flag}: `) &&
      pattern.test(error.message),
    flag,
  );
}

/** Runs `thumbnailer deploy azure ...` as a user would: a child process through the command's `register`. */
async function runCommand(args: string[]): Promise<string> {
  const script = `
    const { Command } = await import('commander');
    const { register } = await import(${JSON.stringify(join(root, 'src', 'hosts', 'cli', 'commands', 'deploy.ts'))});
    const program = new Command('thumbnailer');
    register(program);
    await program.parseAsync(process.argv.slice(1), { from: 'user' });
  `;
  const { stdout } = await run(
    process.execPath,
    ['--import', 'tsx', '--input-type=module', '-e', script, ...args],
    {
      cwd: root,
    },
  );
  return stdout;
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const nested = await Promise.all(
    entries.map((e) =>
      e.isDirectory() ? filesUnder(join(dir, e.name)) : Promise.resolve([join(dir, e.name)]),
    ),
  );
  return nested.flat();
}

/** A module of an installed SDK package by its file path (their `exports` hide the mappers). */
async function sdkModule<T>(pkg: string, path: string): Promise<T> {
  const dir = dirname(require.resolve(`${pkg}/package.json`));
  return (await import(pathToFileURL(join(dir, path)).href)) as T;
}
type Mappers = Record<string, CompositeMapper>;

describe('deploy azure: the resources, identity only', () => {
  for (const [name, input] of Object.entries(VARIANTS)) {
    test(name, () => {
      const { options, template, of, names } = build(input);
      assert.equal(
        template.$schema,
        'https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#',
      );
      assert.equal(template.contentVersion, '1.0.0.0');

      // Two user-assigned identities: the worker's, and Event Grid's for delivery.
      assert.deepEqual(
        of('Microsoft.ManagedIdentity/userAssignedIdentities').map((r) => r.name),
        [names.identity, names.eventsIdentity],
      );

      const account = one(of, 'Microsoft.Storage/storageAccounts');
      assert.equal(account.name, "[parameters('storageAccountName')]");
      assert.equal(account.properties.allowSharedKeyAccess, false);
      assert.equal(account.properties.allowBlobPublicAccess, false);
      assert.equal(account.properties.defaultToOAuthAuthentication, true);
      assert.equal(account.properties.minimumTlsVersion, 'TLS1_2');
      assert.deepEqual(
        of('Microsoft.Storage/storageAccounts/blobServices/containers').map((r) => [
          childName(r.name),
          r.properties,
        ]),
        [
          [options.videoContainer, { publicAccess: 'None' }],
          [options.thumbnailContainer, { publicAccess: 'None' }],
        ],
      );
      assert.deepEqual(
        of('Microsoft.Storage/storageAccounts/queueServices/queues').map((r) => childName(r.name)),
        [options.queue, `${options.queue}-poison`, options.eventsQueue],
      );
      assert.deepEqual(
        of('Microsoft.Storage/storageAccounts/tableServices/tables').map((r) => childName(r.name)),
        ['thumbnailjobs'],
      );

      const workspace = one(of, 'Microsoft.OperationalInsights/workspaces');
      assert.equal(workspace.properties.features?.disableLocalAuth, true);
      const environment = one(of, 'Microsoft.App/managedEnvironments');
      assert.deepEqual(environment.properties.appLogsConfiguration, { destination: 'azure-monitor' });
      const diagnostics = one(of, 'Microsoft.Insights/diagnosticSettings');
      assert.equal(
        diagnostics.scope,
        `[format('Microsoft.App/managedEnvironments/{0}', '${names.environment}')]`,
      );
      assert.equal(
        diagnostics.properties.workspaceId,
        `[resourceId('Microsoft.OperationalInsights/workspaces', '${names.workspace}')]`,
      );
      assert.deepEqual(
        diagnostics.properties.logs?.map((l) => [l.category, l.enabled]),
        [
          ['ContainerAppConsoleLogs', true],
          ['ContainerAppSystemLogs', true],
        ],
      );

      assert.equal(of('Microsoft.App/containerApps').length, options.api ? 1 : 0);
      assert.equal(
        of('Microsoft.Resources/deployments').length,
        options.image.includes('.azurecr.io/') ? 1 : 0,
      );
      for (const r of template.resources) {
        if ('location' in r && r.location !== undefined)
          assert.equal(r.location, "[parameters('location')]", r.type);
      }
      if (options.location) assert.equal(template.parameters.location!.defaultValue, options.location);
      else assert.equal(template.parameters.location!.defaultValue, '[resourceGroup().location]');
    });
  }

  test('no key, SAS, connection string or listKeys anywhere; the only secret comes from a secure parameter', () => {
    for (const input of Object.values(VARIANTS)) {
      const { template } = build(input);
      const text = toJson(template);
      assert.doesNotMatch(
        text,
        /listKeys|listAccountSas|listServiceSas|AccountKey|\bsharedKey|SharedAccessSignature|DefaultEndpointsProtocol|connectionString|[?&]sig=|"password"/i,
      );
      for (const [name, parameter] of Object.entries(template.parameters)) {
        if (parameter.type === 'securestring') {
          assert.equal(parameter.defaultValue, undefined, `${name} has no default`);
          for (const output of Object.values(template.outputs ?? {})) {
            assert.ok(!output.value.includes(`parameters('${name}')`), `output leaks ${name}`);
          }
        }
      }
      const secrets = template.resources.flatMap((r) =>
        r.type === 'Microsoft.App/containerApps' ? (r.properties.configuration?.secrets ?? []) : [],
      );
      for (const secret of secrets) assert.equal(secret.value, "[parameters('apiToken')]");
      const job = template.resources.find((r): r is JobResource => r.type === 'Microsoft.App/jobs')!;
      assert.equal(job.properties.configuration?.secrets, undefined, 'the job has no secret at all');
    }
  });

  test('outputs name the storage account, queues and job, never a key', () => {
    const { template, names } = build(VARIANTS['ACR image, API, region, registry group']!);
    const outputs = template.outputs!;
    assert.equal(outputs.storageAccountName?.value, "[parameters('storageAccountName')]");
    assert.equal(outputs.requestQueue?.value, 'thumbnail-requests');
    assert.equal(outputs.poisonQueue?.value, 'thumbnail-requests-poison');
    assert.equal(outputs.eventsQueue?.value, 'thumbnail-events');
    assert.equal(outputs.jobName?.value, names.job);
    assert.match(outputs.apiUrl?.value ?? '', /ingress\.fqdn/);
    for (const output of Object.values(outputs)) assert.equal(output.type, 'string');
  });
});

describe('deploy azure: the role assignments', () => {
  test('the built-in role IDs are the published ones', () => {
    assert.deepEqual(BUILT_IN_ROLES, PUBLISHED_ROLE_IDS);
  });

  test('the worker identity gets Blob, Queue and Table Data Contributor on the account; Event Grid only sends to the request queue', () => {
    const { of, names, options } = build(VARIANTS['public image, tuned, renamed storage']!);
    const identity = `resourceId('Microsoft.ManagedIdentity/userAssignedIdentities', '${names.identity}')`;
    const eventsIdentity = `resourceId('Microsoft.ManagedIdentity/userAssignedIdentities', '${names.eventsIdentity}')`;
    const assignments = of('Microsoft.Authorization/roleAssignments');
    const onAccount = assignments.filter(
      (a) =>
        a.scope === "[format('Microsoft.Storage/storageAccounts/{0}', parameters('storageAccountName'))]",
    );
    assert.deepEqual(
      onAccount.map(roleGuid).sort(),
      [
        PUBLISHED_ROLE_IDS['Storage Blob Data Contributor'],
        PUBLISHED_ROLE_IDS['Storage Queue Data Contributor'],
        PUBLISHED_ROLE_IDS['Storage Table Data Contributor'],
      ].sort(),
    );
    for (const a of onAccount) {
      assert.equal(a.properties.principalId, `[reference(${identity}, '2024-11-30').principalId]`);
      assert.equal(a.properties.principalType, 'ServicePrincipal');
      assert.match(a.name, /^\[guid\(resourceId\('Microsoft\.Storage\/storageAccounts'/);
    }
    const sender = assignments.filter((a) => !onAccount.includes(a));
    assert.equal(sender.length, 1);
    assert.equal(roleGuid(sender[0]!), PUBLISHED_ROLE_IDS['Storage Queue Data Message Sender']);
    assert.equal(
      sender[0]!.scope,
      `[format('Microsoft.Storage/storageAccounts/{0}/queueServices/default/queues/{1}', parameters('storageAccountName'), '${options.queue}')]`,
    );
    assert.equal(
      sender[0]!.properties.principalId,
      `[reference(${eventsIdentity}, '2024-11-30').principalId]`,
    );
    // Assignment names are deterministic and distinct: deploying again updates, never duplicates.
    assert.equal(new Set(assignments.map((a) => a.name)).size, assignments.length);
    assert.equal(
      of('Microsoft.Resources/deployments').length,
      0,
      'no AcrPull outside Azure Container Registry',
    );
    assert.equal(
      one(of, 'Microsoft.App/jobs').properties.configuration?.registries,
      undefined,
      'a public image',
    );
  });

  test('an Azure Container Registry image: AcrPull on the registry, in its resource group, and a keyless pull', () => {
    const { of, template, names } = build(VARIANTS['ACR image, API, region, registry group']!);
    const nested = one(of, 'Microsoft.Resources/deployments');
    assert.equal(nested.resourceGroup, "[parameters('registryResourceGroup')]");
    assert.equal(template.parameters.registryResourceGroup?.defaultValue, 'shared-images');
    assert.equal(template.parameters.registryName?.defaultValue, 'mediaregistry');
    const [inner] = nested.properties.template.resources as RoleAssignmentResource[];
    assert.equal(inner!.type, 'Microsoft.Authorization/roleAssignments');
    assert.equal(roleGuid(inner!), PUBLISHED_ROLE_IDS.AcrPull);
    assert.equal(
      inner!.scope,
      "[format('Microsoft.ContainerRegistry/registries/{0}', parameters('registryName'))]",
    );
    assert.equal(inner!.properties.principalId, "[parameters('principalId')]");
    assert.equal(
      nested.properties.parameters.principalId?.value,
      `[reference(resourceId('Microsoft.ManagedIdentity/userAssignedIdentities', '${names.identity}'), '2024-11-30').principalId]`,
    );
    for (const app of [one(of, 'Microsoft.App/jobs'), one(of, 'Microsoft.App/containerApps')]) {
      assert.deepEqual(app.properties.configuration?.registries, [
        {
          server: "[format('{0}.azurecr.io', parameters('registryName'))]",
          identity: `[resourceId('Microsoft.ManagedIdentity/userAssignedIdentities', '${names.identity}')]`,
        },
      ]);
      assert.ok(
        app.dependsOn?.includes(`[resourceId('Microsoft.Resources/deployments', '${names.acrPull}')]`),
      );
    }
  });
});

describe('deploy azure: the event-driven job', () => {
  test('`thumbnailer worker --once` per message on the azure-queue rule with the account, queue, length and identity', () => {
    const { of, options, names } = build(VARIANTS['ACR image']!);
    const job = one(of, 'Microsoft.App/jobs');
    const identity = `[resourceId('Microsoft.ManagedIdentity/userAssignedIdentities', '${names.identity}')]`;
    assert.deepEqual(job.identity, { type: 'UserAssigned', userAssignedIdentities: { [identity]: {} } });
    const configuration = job.properties.configuration!;
    assert.equal(configuration.triggerType, 'Event');
    assert.equal(configuration.replicaRetryLimit, 0, 'the queue retries, not the job');
    const trigger = configuration.eventTriggerConfig!;
    assert.equal(trigger.parallelism, 1);
    assert.equal(trigger.replicaCompletionCount, 1);
    assert.equal(trigger.scale?.minExecutions, 0);
    assert.equal(trigger.scale?.maxExecutions, 10);
    assert.equal(trigger.scale?.pollingInterval, 15);
    assert.deepEqual(trigger.scale?.rules, [
      {
        name: 'request-queue',
        type: 'azure-queue',
        metadata: {
          accountName: "[parameters('storageAccountName')]",
          queueName: options.queue,
          queueLength: '1',
          queueLengthStrategy: 'all',
        },
        identity,
      },
    ]);
    const [container] = job.properties.template!.containers!;
    assert.equal(container!.image, "[parameters('image')]");
    assert.deepEqual(container!.command, ['node', '/home/site/wwwroot/dist/hosts/cli/main.js']);
    assert.deepEqual(container!.args, ['worker', '--once', '--wait', String(ONCE_WAIT_SECONDS)]);
    assert.deepEqual(container!.resources, { cpu: 2, memory: '4Gi' });
  });

  test('the replica timeout comes from the job time limit, with room for the wait and the drain', () => {
    for (const input of Object.values(VARIANTS)) {
      const { of, options } = build(input);
      const timeout = one(of, 'Microsoft.App/jobs').properties.configuration!.replicaTimeout;
      assert.equal(timeout, replicaTimeoutSeconds(options));
      assert.ok(timeout > ONCE_WAIT_SECONDS + options.jobTimeout + options.graceSeconds, String(timeout));
    }
    const tuned = build(VARIANTS['public image, tuned, renamed storage']!);
    assert.equal(
      one(tuned.of, 'Microsoft.App/jobs').properties.configuration!.eventTriggerConfig!.scale!.maxExecutions,
      50,
    );
    assert.deepEqual(one(tuned.of, 'Microsoft.App/jobs').properties.template!.containers![0]!.resources, {
      cpu: 4,
      memory: '8Gi',
    });
  });

  test('the app reads the settings the job sets: src/config.ts gets an identity connection and the intended values', () => {
    for (const input of Object.values(VARIANTS)) {
      const { of, options } = build(input);
      const [container] = one(of, 'Microsoft.App/jobs').properties.template!.containers!;
      const environment: NodeJS.ProcessEnv = {};
      for (const e of container!.env ?? []) {
        assert.equal(e.secretRef, undefined, `${e.name}: no secret in the job`);
        // Expressions stand for what Azure resolves: the account name and the identity's client ID.
        environment[e.name!] = e.value!.startsWith('[parameters(')
          ? 'mediastore01'
          : e.value!.startsWith('[')
            ? '11111111-2222-3333-4444-555555555555'
            : e.value;
      }
      assert.match(container!.env!.find((e) => e.name === 'AZURE_CLIENT_ID')!.value!, /\.clientId\]$/);
      const settings = loadSettings({}, environment);
      assert.equal(settings.storage?.kind, 'identity');
      assert.equal(
        settings.storage?.kind === 'identity' && settings.storage.queueServiceUri,
        'https://mediastore01.queue.core.windows.net',
      );
      assert.equal(settings.queueName, options.queue);
      assert.equal(settings.videoContainer, options.videoContainer);
      assert.equal(settings.thumbnailContainer, options.thumbnailContainer);
      assert.equal(settings.worker.concurrency, 1);
      assert.equal(settings.worker.jobTimeoutMs, options.jobTimeout * 1000);
      assert.equal(settings.worker.shutdownGraceMs, options.graceSeconds * 1000);
      assert.equal(environment.THUMBNAILER_EVENTS_QUEUE, options.eventsQueue);
    }
  });

  test('--api: the HTTP API and dashboard with ingress, probes and its token as a Container Apps secret', () => {
    const { of, template } = build(VARIANTS['ACR image, API, region, registry group']!);
    const app = one(of, 'Microsoft.App/containerApps');
    const configuration = app.properties.configuration!;
    assert.deepEqual(configuration.ingress, {
      external: true,
      targetPort: 7071,
      transport: 'auto',
      allowInsecure: false,
    });
    assert.deepEqual(configuration.secrets, [{ name: 'api-token', value: "[parameters('apiToken')]" }]);
    assert.equal(template.parameters.apiToken?.type, 'securestring');
    const [container] = app.properties.template!.containers!;
    assert.deepEqual(container!.args, ['start']);
    const env = Object.fromEntries(container!.env!.map((e) => [e.name, e]));
    assert.deepEqual(env.THUMBNAILER_API_TOKEN, { name: 'THUMBNAILER_API_TOKEN', secretRef: 'api-token' });
    assert.equal(env.THUMBNAILER_HOST?.value, '0.0.0.0');
    assert.deepEqual(
      container!.probes?.map((p) => [p.type, p.httpGet?.path, p.httpGet?.port]),
      [
        ['Startup', '/healthz', 7071],
        ['Liveness', '/healthz', 7071],
        ['Readiness', '/readyz', 7071],
      ],
    );
  });
});

describe('deploy azure: Event Grid from the videos container to the request queue', () => {
  test('BlobCreated under the videos container only, delivered with the topic identity to the queue', () => {
    const { of, names, options } = build(VARIANTS['public image, tuned, renamed storage']!);
    const topic = one(of, 'Microsoft.EventGrid/systemTopics');
    const account = "[resourceId('Microsoft.Storage/storageAccounts', parameters('storageAccountName'))]";
    assert.deepEqual(topic.properties, { source: account, topicType: 'Microsoft.Storage.StorageAccounts' });
    const eventsIdentity = `[resourceId('Microsoft.ManagedIdentity/userAssignedIdentities', '${names.eventsIdentity}')]`;
    assert.deepEqual(topic.identity, {
      type: 'UserAssigned',
      userAssignedIdentities: { [eventsIdentity]: {} },
    });
    const subscription: EventSubscriptionResource = one(
      of,
      'Microsoft.EventGrid/systemTopics/eventSubscriptions',
    );
    assert.equal(subscription.name, `${names.systemTopic}/${names.subscription}`);
    const { filter, deliveryWithResourceIdentity, eventDeliverySchema } = subscription.properties;
    assert.deepEqual(filter.includedEventTypes, ['Microsoft.Storage.BlobCreated']);
    assert.equal(
      filter.subjectBeginsWith,
      `/blobServices/default/containers/${options.videoContainer}/blobs/`,
    );
    assert.equal(filter.subjectEndsWith, undefined);
    assert.equal(eventDeliverySchema, 'EventGridSchema');
    assert.deepEqual(deliveryWithResourceIdentity.identity, {
      type: 'UserAssigned',
      userAssignedIdentity: eventsIdentity,
    });
    const destination: StorageQueueDestinationWire = deliveryWithResourceIdentity.destination;
    assert.deepEqual(destination, {
      endpointType: 'StorageQueue',
      properties: { resourceId: account, queueName: options.queue, queueMessageTimeToLiveInSeconds: -1 },
    });
    assert.ok(
      !('destination' in subscription.properties),
      'no key-based destination besides the identity one',
    );
  });

  test('what the filter passes, the worker accepts as a job for that video; outputs never pass it', () => {
    const { of, options } = build(VARIANTS['public image, tuned, renamed storage']!);
    const filter = one(of, 'Microsoft.EventGrid/systemTopics/eventSubscriptions').properties.filter;
    const passes = (subject: string) => subject.startsWith(filter.subjectBeginsWith!);
    const ctx = {
      videoContainer: options.videoContainer,
      blobEndpoint: 'https://mediastore01.blob.core.windows.net/',
      accountName: 'mediastore01',
    };
    const event = (container: string, blob: string) => ({
      id: 'e1',
      topic: '/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/mediastore01',
      subject: `/blobServices/default/containers/${container}/blobs/${blob}`,
      eventType: 'Microsoft.Storage.BlobCreated',
      eventTime: '2026-11-28T07:00:00Z',
      dataVersion: '',
      data: {
        api: 'PutBlockList',
        url: `https://mediastore01.blob.core.windows.net/${container}/${blob}`,
        contentType: 'video/mp4',
        blobType: 'BlockBlob',
      },
    });
    const upload = event(options.videoContainer, 'holiday/beach.mp4');
    assert.ok(passes(upload.subject));
    const parsed = parseMessage(JSON.stringify(upload), ctx);
    assert.equal(parsed.kind, 'job');
    assert.equal(parsed.kind === 'job' && parsed.video, 'holiday/beach.mp4');
    // The service's own outputs, and a container whose name merely starts the same, stay out.
    assert.ok(!passes(event(options.thumbnailContainer, 'holiday/beach.mp4/strip.jpg').subject));
    assert.ok(!passes(event(`${options.videoContainer}2`, 'a.mp4').subject));
  });
});

describe('deploy azure: parameters and dependencies', () => {
  /** `parameters('x')` names used in a template, its nested templates' own scopes left out. */
  function usedParameters(template: DeploymentTemplate): Set<string> {
    const used = new Set<string>();
    const visit = (value: unknown) => {
      const text = JSON.stringify(value) ?? '';
      for (const match of text.matchAll(/parameters\('(\w+)'\)/g)) used.add(match[1]!);
    };
    visit(template.outputs);
    for (const parameter of Object.values(template.parameters)) visit(parameter.defaultValue);
    for (const resource of template.resources) visit(JSON.parse(bodyText(resource)));
    return used;
  }

  test('every parameter declared is used, and every parameter used is declared (nested template too)', () => {
    for (const input of Object.values(VARIANTS)) {
      const { template, of } = build(input);
      assert.deepEqual([...usedParameters(template)].sort(), Object.keys(template.parameters).sort());
      for (const nested of of('Microsoft.Resources/deployments')) {
        const inner = nested.properties.template;
        assert.deepEqual([...usedParameters(inner)].sort(), Object.keys(inner.parameters).sort());
        assert.deepEqual(
          Object.keys(nested.properties.parameters).sort(),
          Object.keys(inner.parameters).sort(),
        );
      }
    }
  });

  test('dependsOn names only resources of the template and every one a resource refers to; no cycle', () => {
    for (const input of Object.values(VARIANTS)) {
      const { template } = build(input);
      const byId = new Map<string, TemplateResource>();
      for (const r of template.resources) {
        const id = idOf(r);
        if (id) byId.set(id, r);
      }
      for (const r of template.resources) {
        const depends = (r.dependsOn ?? []).map((d) => {
          assert.match(d, /^\[.*\]$/);
          return d.slice(1, -1);
        });
        for (const d of depends) assert.ok(byId.has(d), `${r.type} ${r.name} depends on unknown ${d}`);
        const referred = idExpressions(bodyText(r)).filter((id) => byId.has(id) && id !== idOf(r));
        for (const id of referred)
          assert.ok(depends.includes(id), `${r.type} ${r.name} refers to ${id} without dependsOn`);
      }
      // Resources appear after what they depend on, so the order is a topological one.
      const seen = new Set<string>();
      for (const r of template.resources) {
        for (const d of r.dependsOn ?? []) assert.ok(seen.has(d.slice(1, -1)), `${r.name} before ${d}`);
        const id = idOf(r);
        if (id) seen.add(id);
      }
      // The job waits for its data roles and its queue; the subscription for the queue and its role.
      const job = template.resources.find((r) => r.type === 'Microsoft.App/jobs')!;
      const roles = template.resources.filter(
        (r): r is RoleAssignmentResource => r.type === 'Microsoft.Authorization/roleAssignments',
      );
      for (const role of roles.filter((r) => r.scope.includes("storageAccounts/{0}'"))) {
        assert.ok(job.dependsOn!.includes(`[${idOf(role)}]`), 'job waits for its roles');
      }
      const subscription = template.resources.find(
        (r) => r.type === 'Microsoft.EventGrid/systemTopics/eventSubscriptions',
      )!;
      const sender = roles.find((r) => r.scope.includes('queues/{1}'))!;
      assert.ok(subscription.dependsOn!.includes(`[${idOf(sender)}]`), 'delivery waits for its role');
    }
  });
});

describe('deploy azure: the bodies are what the Azure SDKs put on the wire', () => {
  const serializer = async (pkg: string, path: string) => {
    const mappers = await sdkModule<Mappers>(pkg, path);
    return { mappers, serializer: createSerializer(mappers) };
  };

  /**
   * A body through the SDK's deserializer and back through its serializer: a property the model
   * does not know, or knows under another wire name, does not survive the round trip.
   */
  function roundTrip(
    sdk: { mappers: Mappers; serializer: ReturnType<typeof createSerializer> },
    model: string,
    wire: Record<string, unknown>,
  ) {
    const mapper = sdk.mappers[model];
    assert.ok(mapper, model);
    const client = sdk.serializer.deserialize(mapper, wire, model);
    return sdk.serializer.serialize(mapper, client, model) as Record<string, unknown>;
  }

  /**
   * `actual` holds every value of `expected` at the same place. Serializers add the defaults of
   * their models (`publicNetworkAccessForIngestion: Enabled`, unset optionals as `undefined`);
   * what matters is that nothing of ours is dropped or renamed.
   */
  function assertCarries(actual: unknown, expected: unknown, path = '$'): void {
    if (Array.isArray(expected)) {
      assert.ok(Array.isArray(actual), `${path} is an array`);
      assert.equal(actual.length, expected.length, `${path} length`);
      expected.forEach((item, i) => assertCarries(actual[i], item, `${path}[${i}]`));
    } else if (expected !== null && typeof expected === 'object') {
      assert.ok(actual !== null && typeof actual === 'object', `${path} is an object`);
      for (const [key, value] of Object.entries(expected)) {
        assertCarries((actual as Record<string, unknown>)[key], value, `${path}.${key}`);
      }
    } else {
      assert.equal(actual, expected, path);
    }
  }

  const wire = (r: TemplateResource) => {
    const {
      type: _t,
      apiVersion: _a,
      name: _n,
      dependsOn: _d,
      scope: _s,
      ...body
    } = r as TemplateResource & { scope?: string };
    return body as Record<string, unknown>;
  };

  test('Container Apps: job, scale rule, environment and app (@azure/arm-appcontainers mappers)', async () => {
    const sdk = await serializer('@azure/arm-appcontainers', 'dist/esm/models/mappers.js');
    for (const input of Object.values(VARIANTS)) {
      const { of } = build(input);
      const job = one(of, 'Microsoft.App/jobs');
      assertCarries(roundTrip(sdk, 'Job', wire(job)), wire(job));
      const rule: JobScaleRule = job.properties.configuration!.eventTriggerConfig!.scale!.rules![0]!;
      assertCarries(roundTrip(sdk, 'JobScaleRule', { ...rule }), rule);
      const props = Object.keys(sdk.mappers.JobScaleRule!.type.modelProperties!);
      assert.ok(props.includes('identity') && props.includes('metadata'), 'the model has the identity field');
      assert.equal(typeof rule.identity, 'string', 'identity is a resource ID string, as the model says');
      const environment = one(of, 'Microsoft.App/managedEnvironments');
      assertCarries(roundTrip(sdk, 'ManagedEnvironment', wire(environment)), wire(environment));
      for (const app of of('Microsoft.App/containerApps')) {
        assertCarries(roundTrip(sdk, 'ContainerApp', wire(app)), wire(app));
      }
    }
  });

  test('Event Grid, role assignments, Log Analytics, diagnostic settings (their SDKs’ mappers)', async () => {
    const eventgrid = await serializer('@azure/arm-eventgrid', 'dist-esm/src/models/mappers.js');
    const authorization = await serializer('@azure/arm-authorization', 'dist-esm/src/models/mappers.js');
    const insights = await serializer('@azure/arm-operationalinsights', 'dist-esm/src/models/mappers.js');
    const monitor = await serializer('@azure/arm-monitor', 'dist-esm/src/models/mappers.js');
    for (const input of Object.values(VARIANTS)) {
      const { of } = build(input);
      const topic = one(of, 'Microsoft.EventGrid/systemTopics');
      assertCarries(roundTrip(eventgrid, 'SystemTopic', wire(topic)), wire(topic));
      const subscription = one(of, 'Microsoft.EventGrid/systemTopics/eventSubscriptions');
      assertCarries(roundTrip(eventgrid, 'EventSubscription', wire(subscription)), wire(subscription));
      // The destination as the SDK's client model sees it: flattened, with the queue.
      const client = eventgrid.serializer.deserialize(
        eventgrid.mappers.EventSubscription!,
        wire(subscription),
        'EventSubscription',
      ) as { deliveryWithResourceIdentity: { destination: StorageQueueEventSubscriptionDestination } };
      assert.equal(client.deliveryWithResourceIdentity.destination.endpointType, 'StorageQueue');
      assert.equal(client.deliveryWithResourceIdentity.destination.queueName, build(input).options.queue);
      for (const role of of('Microsoft.Authorization/roleAssignments')) {
        assertCarries(roundTrip(authorization, 'RoleAssignmentCreateParameters', wire(role)), wire(role));
      }
      const workspace = one(of, 'Microsoft.OperationalInsights/workspaces');
      assertCarries(roundTrip(insights, 'Workspace', wire(workspace)), wire(workspace));
      const diagnostics = one(of, 'Microsoft.Insights/diagnosticSettings');
      assert.deepEqual(
        roundTrip(monitor, 'DiagnosticSettingsResource', wire(diagnostics)),
        wire(diagnostics),
      );
    }
  });

  test('Storage: account, containers, queues, table (@azure/arm-storage serializers)', async () => {
    type Serializers = Record<string, (item: unknown) => Record<string, unknown>>;
    const storage = await sdkModule<Serializers>('@azure/arm-storage', 'dist/esm/models/models.js');
    for (const input of Object.values(VARIANTS)) {
      const { of } = build(input);
      const account = one(of, 'Microsoft.Storage/storageAccounts');
      const client = storage.storageAccountDeserializer!(wire(account));
      const back = storage.storageAccountCreateParametersSerializer!({
        ...client,
        location: account.location,
      });
      assertCarries(back, wire(account));
      assert.equal((client as { allowSharedKeyAccess?: boolean }).allowSharedKeyAccess, false);
      for (const [resources, model] of [
        [of('Microsoft.Storage/storageAccounts/blobServices/containers'), 'blobContainer'],
        [of('Microsoft.Storage/storageAccounts/queueServices/queues'), 'storageQueue'],
        [of('Microsoft.Storage/storageAccounts/tableServices/tables'), 'table'],
      ] as const) {
        for (const r of resources) {
          const item = storage[`${model}Deserializer`]!(wire(r));
          assertCarries(storage[`${model}Serializer`]!(item), wire(r), `${r.type} ${r.name}`);
        }
      }
    }
  });

  test('a misspelt property fails the build (checked by `npm run typecheck`)', () => {
    const rule: JobScaleRule = {
      name: 'q',
      type: 'azure-queue',
      // @ts-expect-error the model has `identity`, not `identityId`
      identityId: 'x',
    };
    const destination: StorageQueueDestinationWire = {
      endpointType: 'StorageQueue',
      // @ts-expect-error the model has `queueName`, not `queue`
      properties: { queue: 'x' },
    };
    assert.ok(rule && destination);
  });
});

describe('deploy azure: option values are refused with the flag named', () => {
  test('bad values', () => {
    rejects({ name: 'Thumbs' }, '--name', /lowercase/);
    rejects({ name: 'a--b' }, '--name', /single hyphens/);
    rejects({ name: '1thumbs' }, '--name', /starting with a letter/);
    rejects({ name: 'a'.repeat(25) }, '--name', /2-24/);
    rejects({ image: 'not an image' }, '--image', /image reference/);
    rejects({ location: 'West Europe' }, '--location', /region name/);
    rejects({ maxExecutions: '0' }, '--max-executions', /at least 1/);
    rejects({ maxExecutions: 'lots' }, '--max-executions', /whole number/);
    rejects({ jobTimeout: '30' }, '--job-timeout', /at least 60/);
    rejects({ cpu: '8' }, '--cpu', /one of/);
    rejects({ queue: 'Q' }, '--queue', /3-56/);
    rejects({ eventsQueue: 'thumbnail-requests-poison' }, '--events-queue', /differ/);
    rejects({ thumbnailContainer: 'videos' }, '--thumbnail-container', /differ/);
    rejects(
      { image: 'ghcr.io/x/video-thumbnailer:1', registryResourceGroup: 'rg' },
      '--registry-resource-group',
      /Azure Container Registry/,
    );
  });
});

describe('deploy azure: committed templates and the command', () => {
  test('deploy/azure/ is exactly what the builder prints (node --import tsx scripts/generate-manifests.ts)', async () => {
    const expected = committedAzureFiles();
    const actual = (await filesUnder(committedRoot)).map((f) => relative(committedRoot, f)).sort();
    assert.deepEqual(actual, [...expected.keys()].sort());
    for (const [path, content] of expected) {
      assert.equal(await readFile(join(committedRoot, path), 'utf8'), content, `deploy/azure/${path}`);
    }
  });

  test('Prettier leaves the committed files alone, and the parameters example matches the template', async () => {
    for (const path of (await filesUnder(committedRoot)).sort()) {
      const text = await readFile(path, 'utf8');
      const config = (await prettier.resolveConfig(path)) ?? {};
      assert.ok(await prettier.check(text, { ...config, filepath: path }), `prettier: ${path}`);
      if (!path.endsWith('main.parameters.example.json')) continue;
      const template = JSON.parse(
        await readFile(join(dirname(path), 'main.json'), 'utf8'),
      ) as DeploymentTemplate;
      const example = JSON.parse(text) as { parameters: Record<string, unknown> };
      assert.deepEqual(Object.keys(example.parameters).sort(), Object.keys(template.parameters).sort());
    }
  });

  for (const variant of COMMITTED_AZURE_VARIANTS) {
    const file = `deploy/azure/${variant.dir ? variant.dir + '/' : ''}main.json`;
    test(`\`${variant.command}\` prints ${file}, and names itself in it`, async () => {
      const printed = await runCommand(variant.command.split(' ').slice(1));
      assert.equal(printed, await readFile(join(root, file), 'utf8'));
      const template = JSON.parse(printed) as DeploymentTemplate;
      assert.match(
        template.metadata!.generator,
        new RegExp(`^${variant.command.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} `),
      );
    });
  }

  test('without --dry-run the command prints how to deploy, and applies nothing', async () => {
    const printed = await runCommand(['deploy', 'azure', '--name', 'thumbs', '--image', ACR_IMAGE, '--api']);
    assert.match(printed, /nothing is applied from here/);
    assert.match(
      printed,
      /thumbnailer deploy azure --name thumbs --image \S+ --api --dry-run > thumbs\.azuredeploy\.json/,
    );
    assert.match(
      printed,
      /az deployment group create --resource-group .* \\\n {2}--name thumbs --template-file thumbs\.azuredeploy\.json/,
    );
    assert.match(printed, /--parameters apiToken=/);
  });
});

/**
 * The published ARM schemas (github.com/Azure/azure-resource-manager-schemas) are not in this
 * repository: point ARM_SCHEMAS_DIR at a checkout's `schemas/` folder to run these.
 */
describe('deploy azure: validated against the published ARM schemas', () => {
  const dir = process.env.ARM_SCHEMAS_DIR;
  const skip =
    !dir || !existsSync(join(dir, '2019-04-01', 'deploymentTemplate.json'))
      ? 'set ARM_SCHEMAS_DIR to the schemas/ folder of Azure/azure-resource-manager-schemas'
      : false;
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

  test('each template, each resource and each parameters example', { skip }, async () => {
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
