import type {
  Container as AppContainer,
  ContainerApp,
  EnvironmentVar,
  Job,
  JobScaleRule,
  ManagedEnvironment,
} from '@azure/arm-appcontainers';
import type { RoleAssignmentCreateParameters } from '@azure/arm-authorization';
import type {
  EventSubscription,
  EventSubscriptionFilter,
  EventSubscriptionIdentity,
  IdentityInfo,
  StorageQueueEventSubscriptionDestination,
  SystemTopic,
} from '@azure/arm-eventgrid';
import type { DiagnosticSettingsResource } from '@azure/arm-monitor';
import type { Identity } from '@azure/arm-msi';
import type { Workspace } from '@azure/arm-operationalinsights';
import type { BlobContainer, StorageAccountCreateParameters, StorageQueue, Table } from '@azure/arm-storage';
import { acrRegistry, AZURE_DEFAULTS, type AzureDeployOptions } from './azure-options.js';
import { ENV, JOBS_TABLE, poisonQueueName } from '../config.js';
import { IMAGE_FACTS, ONCE_WAIT_SECONDS, onceDeadlineSeconds, terminationGraceSeconds } from './manifests.js';
import { deployFlag } from './options.js';

/**
 * `thumbnailer deploy azure` as a pure function: options in, an ARM deployment template out, for
 * Azure Container Apps with identity only. Each resource body is typed with the models of the
 * `@azure/arm-*` management SDKs (types only: nothing of them loads at run time), so a misspelt
 * property fails the build. Those SDKs flatten a resource's `properties` into the resource; the
 * template puts them back under `properties` (`Pick<Model, ...>` below), and the tests round-trip
 * every body through the SDKs' own serializers to prove the wire names.
 */

/** API versions: the ones the installed SDK packages were generated for, so the types match. */
export const API_VERSIONS = {
  'Microsoft.ManagedIdentity': '2024-11-30', // @azure/arm-msi 2.2
  'Microsoft.Storage': '2025-08-01', // @azure/arm-storage 20.0
  'Microsoft.Authorization': '2022-04-01', // @azure/arm-authorization 9.0
  'Microsoft.OperationalInsights': '2022-10-01', // @azure/arm-operationalinsights 9.0
  'Microsoft.App': '2025-07-01', // @azure/arm-appcontainers 3.0
  'Microsoft.EventGrid': '2022-06-15', // @azure/arm-eventgrid 14.1
  // @azure/arm-monitor 7 types diagnostic settings as of 2017-05-01-preview; 2021-05-01-preview
  // accepts the same body and is the version Microsoft documents for Container Apps environments.
  'Microsoft.Insights': '2021-05-01-preview',
  'Microsoft.Resources': '2022-09-01',
} as const;

export const TEMPLATE_SCHEMA =
  'https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#';
export const PARAMETERS_SCHEMA =
  'https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#';

/**
 * Built-in role definition IDs (the same GUID in every tenant; Microsoft's "Azure built-in roles").
 */
export const BUILT_IN_ROLES = {
  'Storage Blob Data Contributor': 'ba92f5b4-2d11-453d-a403-e96b0029c9fe',
  'Storage Queue Data Contributor': '974c5e8b-45b9-4653-ba55-5f855dd0fb88',
  'Storage Queue Data Message Sender': 'c6a89b2d-59bc-44d0-9896-0f6e12d7b80a',
  'Storage Table Data Contributor': '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3',
  AcrPull: '7f951dda-4ed3-4680-a7ca-43fe172d538d',
} as const;
export type BuiltInRole = keyof typeof BUILT_IN_ROLES;

/** The worker's entry point in both images (Container Apps has no working-directory setting). */
const ENTRY = `${IMAGE_FACTS.appRoot}/dist/hosts/cli/main.js`;

// ---------------------------------------------------------------------------------------------
// Template shapes

/** An ARM template parameter declaration. */
export interface TemplateParameter {
  type: 'string' | 'securestring' | 'int' | 'bool';
  defaultValue?: string | number | boolean;
  minLength?: number;
  maxLength?: number;
  allowedValues?: string[];
  metadata: { description: string };
}

export interface TemplateOutput {
  type: 'string';
  value: string;
}

/** The fields ARM itself reads on every resource, around the provider's own body. */
interface ResourceBase<T extends string> {
  type: T;
  apiVersion: string;
  name: string;
  /** Extension resources (role assignments, diagnostic settings): the resource they apply to. */
  scope?: string;
  location?: string;
  tags?: Record<string, string>;
  dependsOn?: string[];
}

/** Only what a request may set: a model's read-only (server-populated) fields drop out. */
type Writable<T> = {
  -readonly [K in keyof T as IsReadonly<T, K> extends true ? never : K]: T[K];
};
type IsReadonly<T, K extends keyof T> =
  (<V>() => V extends { [P in K]: T[K] } ? 1 : 2) extends <V>() => V extends { -readonly [P in K]: T[K] }
    ? 1
    : 2
    ? false
    : true;

/** A managed identity block as sent (the models' `principalId`/`tenantId` are read-only). */
type UserAssigned = { type: 'UserAssigned'; userAssignedIdentities: Record<string, Record<string, never>> };

export type IdentityResource = ResourceBase<'Microsoft.ManagedIdentity/userAssignedIdentities'> & {
  location: string;
  /** Nothing to set; the published schema requires the object. */
  properties: Pick<Writable<Identity>, 'isolationScope'>;
};
export type StorageAccountResource = ResourceBase<'Microsoft.Storage/storageAccounts'> &
  Pick<StorageAccountCreateParameters, 'sku' | 'kind' | 'location'> & {
    properties: Pick<
      StorageAccountCreateParameters,
      | 'allowSharedKeyAccess'
      | 'defaultToOAuthAuthentication'
      | 'allowBlobPublicAccess'
      | 'minimumTlsVersion'
      | 'allowCrossTenantReplication'
      | 'publicNetworkAccess'
      | 'accessTier'
    >;
  };
export type ContainerResource = ResourceBase<'Microsoft.Storage/storageAccounts/blobServices/containers'> & {
  properties: Pick<Writable<BlobContainer>, 'publicAccess'>;
};
export type QueueResource = ResourceBase<'Microsoft.Storage/storageAccounts/queueServices/queues'> & {
  properties: Pick<StorageQueue, 'metadata'>;
};
export type TableResource = ResourceBase<'Microsoft.Storage/storageAccounts/tableServices/tables'> & {
  properties?: Pick<Writable<Table>, 'signedIdentifiers'>;
};
export type RoleAssignmentResource = ResourceBase<'Microsoft.Authorization/roleAssignments'> & {
  scope: string;
  properties: Pick<
    RoleAssignmentCreateParameters,
    'roleDefinitionId' | 'principalId' | 'principalType' | 'description'
  >;
};
export type WorkspaceResource = ResourceBase<'Microsoft.OperationalInsights/workspaces'> & {
  location: string;
  properties: Pick<Workspace, 'sku' | 'retentionInDays' | 'features'>;
};
export type EnvironmentResource = ResourceBase<'Microsoft.App/managedEnvironments'> & {
  location: string;
  properties: Pick<ManagedEnvironment, 'appLogsConfiguration' | 'workloadProfiles' | 'zoneRedundant'>;
};
export type DiagnosticSettingsResourceBody = ResourceBase<'Microsoft.Insights/diagnosticSettings'> & {
  scope: string;
  properties: Pick<
    DiagnosticSettingsResource,
    'workspaceId' | 'logAnalyticsDestinationType' | 'logs' | 'metrics'
  >;
};
export type JobResource = ResourceBase<'Microsoft.App/jobs'> & {
  location: string;
  identity: UserAssigned;
  properties: Pick<Job, 'environmentId' | 'workloadProfileName' | 'configuration' | 'template'>;
};
export type ContainerAppResource = ResourceBase<'Microsoft.App/containerApps'> & {
  location: string;
  identity: UserAssigned;
  properties: Pick<ContainerApp, 'environmentId' | 'workloadProfileName' | 'configuration' | 'template'>;
};
export type SystemTopicResource = ResourceBase<'Microsoft.EventGrid/systemTopics'> & {
  location: string;
  identity: Pick<IdentityInfo, 'type' | 'userAssignedIdentities'>;
  properties: Pick<SystemTopic, 'source' | 'topicType'>;
};

/**
 * A destination on the wire: `{ endpointType, properties: {...} }`. The SDK flattens the
 * `properties` of a destination into it; this puts them back.
 */
export interface StorageQueueDestinationWire {
  endpointType: StorageQueueEventSubscriptionDestination['endpointType'];
  properties: Omit<StorageQueueEventSubscriptionDestination, 'endpointType'>;
}
export type EventSubscriptionResource =
  ResourceBase<'Microsoft.EventGrid/systemTopics/eventSubscriptions'> & {
    properties: Pick<EventSubscription, 'eventDeliverySchema' | 'retryPolicy'> & {
      filter: EventSubscriptionFilter;
      deliveryWithResourceIdentity: {
        identity: Required<EventSubscriptionIdentity>;
        destination: StorageQueueDestinationWire;
      };
    };
  };
/** A nested deployment: how a role is assigned on a registry in another resource group. */
export type NestedDeploymentResource = ResourceBase<'Microsoft.Resources/deployments'> & {
  resourceGroup: string;
  properties: {
    mode: 'Incremental';
    expressionEvaluationOptions: { scope: 'Inner' };
    parameters: Record<string, { value: string }>;
    template: DeploymentTemplate;
  };
};

export type TemplateResource =
  | IdentityResource
  | StorageAccountResource
  | ContainerResource
  | QueueResource
  | TableResource
  | RoleAssignmentResource
  | WorkspaceResource
  | EnvironmentResource
  | DiagnosticSettingsResourceBody
  | JobResource
  | ContainerAppResource
  | SystemTopicResource
  | EventSubscriptionResource
  | NestedDeploymentResource;

export interface DeploymentTemplate {
  $schema: string;
  contentVersion: string;
  metadata?: { description: string; generator: string };
  parameters: Record<string, TemplateParameter>;
  variables?: Record<string, string>;
  resources: TemplateResource[];
  outputs?: Record<string, TemplateOutput>;
}

// ---------------------------------------------------------------------------------------------
// Names and expressions

export interface AzureResourceNames {
  identity: string;
  eventsIdentity: string;
  workspace: string;
  environment: string;
  diagnostics: string;
  job: string;
  api: string;
  systemTopic: string;
  subscription: string;
  acrPull: string;
}

export function azureResourceNames(name: string): AzureResourceNames {
  return {
    identity: `${name}-identity`,
    eventsIdentity: `${name}-events-identity`,
    workspace: `${name}-logs`,
    environment: `${name}-env`,
    diagnostics: 'logs-to-workspace',
    job: `${name}-worker`,
    api: `${name}-api`,
    systemTopic: `${name}-storage-events`,
    subscription: 'videos-to-request-queue',
    acrPull: `${name}-acrpull`,
  };
}

const STORAGE = "parameters('storageAccountName')";
const LOCATION = "[parameters('location')]";
const IMAGE = "[parameters('image')]";

/** An ARM string literal inside an expression. */
const literal = (value: string) => `'${value.replace(/'/g, "''")}'`;
/** A name segment: an expression as is, a plain name quoted. */
const segment = (value: string) => (value.startsWith('parameters(') ? value : literal(value));
/** `resourceId('type', 'a', 'b')`, the ID of a resource of this resource group. */
export const resourceId = (type: string, ...names: string[]) =>
  `resourceId(${[literal(type), ...names.map(segment)].join(', ')})`;
/** A whole-value expression: `[...]`. */
const expression = (inner: string) => `[${inner}]`;
const roleDefinitionId = (role: BuiltInRole) =>
  `subscriptionResourceId('Microsoft.Authorization/roleDefinitions', ${literal(BUILT_IN_ROLES[role])})`;

function ids(o: AzureDeployOptions) {
  const n = azureResourceNames(o.name);
  const storageAccount = resourceId('Microsoft.Storage/storageAccounts', STORAGE);
  return {
    identity: resourceId('Microsoft.ManagedIdentity/userAssignedIdentities', n.identity),
    eventsIdentity: resourceId('Microsoft.ManagedIdentity/userAssignedIdentities', n.eventsIdentity),
    storageAccount,
    container: (name: string) =>
      resourceId('Microsoft.Storage/storageAccounts/blobServices/containers', STORAGE, 'default', name),
    queue: (name: string) =>
      resourceId('Microsoft.Storage/storageAccounts/queueServices/queues', STORAGE, 'default', name),
    table: resourceId(
      'Microsoft.Storage/storageAccounts/tableServices/tables',
      STORAGE,
      'default',
      JOBS_TABLE,
    ),
    workspace: resourceId('Microsoft.OperationalInsights/workspaces', n.workspace),
    environment: resourceId('Microsoft.App/managedEnvironments', n.environment),
    job: resourceId('Microsoft.App/jobs', n.job),
    api: resourceId('Microsoft.App/containerApps', n.api),
    systemTopic: resourceId('Microsoft.EventGrid/systemTopics', n.systemTopic),
    acrPull: resourceId('Microsoft.Resources/deployments', n.acrPull),
  };
}

const principalOf = (identityId: string) =>
  `reference(${identityId}, ${literal(API_VERSIONS['Microsoft.ManagedIdentity'])}).principalId`;
const clientIdOf = (identityId: string) =>
  `reference(${identityId}, ${literal(API_VERSIONS['Microsoft.ManagedIdentity'])}).clientId`;

// ---------------------------------------------------------------------------------------------
// Sizing and timing

/** Memory for a vCPU count on the Consumption profile: 2 GiB per vCPU. */
export function memoryFor(cpu: number): string {
  return `${cpu * 2}Gi`;
}

/** The longest one execution may run (`onceDeadlineSeconds`): waiting, the job, stopping. */
export function replicaTimeoutSeconds(o: AzureDeployOptions): number {
  return onceDeadlineSeconds(o);
}

// ---------------------------------------------------------------------------------------------
// Resources

function roleAssignment(
  scope: { id: string; path: string },
  identityId: string,
  role: BuiltInRole,
  dependsOn: string[],
): RoleAssignmentResource {
  return {
    type: 'Microsoft.Authorization/roleAssignments',
    apiVersion: API_VERSIONS['Microsoft.Authorization'],
    // Deterministic, so that deploying again updates the same assignment.
    name: expression(`guid(${scope.id}, ${identityId}, ${roleDefinitionId(role)})`),
    scope: expression(scope.path),
    properties: {
      roleDefinitionId: expression(roleDefinitionId(role)),
      principalId: expression(principalOf(identityId)),
      // Skips the directory lookup that fails while a new identity is still replicating.
      principalType: 'ServicePrincipal',
      description: `video-thumbnailer: ${role}`,
    },
    dependsOn: dependsOn.map(expression),
  };
}

/** The worker's settings (docs/contract.md section 2 and src/config.ts) for one message per execution. */
function workerEnvironment(o: AzureDeployOptions, identityId: string): EnvironmentVar[] {
  return [
    // Identity-based connection (no key): DefaultAzureCredential uses the managed identity
    // named by AZURE_CLIENT_ID.
    { name: ENV.AzureWebJobsStorage__accountName, value: expression(STORAGE) },
    { name: 'AZURE_CLIENT_ID', value: expression(clientIdOf(identityId)) },
    { name: ENV.VIDEOCONTAINER, value: o.videoContainer },
    { name: ENV.THUMBNAILCONTAINER, value: o.thumbnailContainer },
    { name: ENV.THUMBNAIL_QUEUE, value: o.queue },
    { name: ENV.THUMBNAILER_EVENTS_QUEUE, value: o.eventsQueue },
    { name: ENV.THUMBNAILER_JOB_TIMEOUT_MS, value: String(o.jobTimeout * 1000) },
    { name: ENV.THUMBNAILER_SHUTDOWN_GRACE_MS, value: String(o.graceSeconds * 1000) },
  ];
}

/** Pulling from Azure Container Registry with the identity (AcrPull), never with a password. */
function registries(o: AzureDeployOptions, identityId: string) {
  if (!acrRegistry(o.image)) return {};
  const server = expression("format('{0}.azurecr.io', parameters('registryName'))");
  return { registries: [{ server, identity: expression(identityId) }] };
}

function userAssigned(identityId: string): UserAssigned {
  return { type: 'UserAssigned', userAssignedIdentities: { [expression(identityId)]: {} } };
}

/**
 * The azure-queue scale rule: one execution per message (`queueLength` 1), the account named for
 * the identity, no secret. `queueLengthStrategy: all` counts in-flight messages too, so running
 * executions are subtracted from a count that includes their own messages (KEDA's default
 * ScaledJob strategy), not from the visible ones only.
 */
export function scaleRule(o: AzureDeployOptions, identityId: string): JobScaleRule {
  return {
    name: 'request-queue',
    type: 'azure-queue',
    metadata: {
      accountName: expression(STORAGE),
      queueName: o.queue,
      queueLength: '1',
      queueLengthStrategy: 'all',
    },
    identity: expression(identityId),
  };
}

function jobResource(o: AzureDeployOptions): JobResource {
  const n = azureResourceNames(o.name);
  const id = ids(o);
  const cpu = Number(o.cpu);
  const worker: AppContainer = {
    name: 'worker',
    image: IMAGE,
    command: ['node', ENTRY],
    args: ['worker', '--once', '--wait', String(ONCE_WAIT_SECONDS)],
    env: [...workerEnvironment(o, id.identity), { name: ENV.THUMBNAILER_CONCURRENCY, value: '1' }],
    resources: { cpu, memory: memoryFor(cpu) },
  };
  const acr = acrRegistry(o.image);
  return {
    type: 'Microsoft.App/jobs',
    apiVersion: API_VERSIONS['Microsoft.App'],
    name: n.job,
    location: LOCATION,
    identity: userAssigned(id.identity),
    properties: {
      environmentId: expression(id.environment),
      workloadProfileName: 'Consumption',
      configuration: {
        triggerType: 'Event',
        replicaTimeout: replicaTimeoutSeconds(o),
        // A failed execution is retried by the queue (visibility timeout, dequeue count), not here.
        replicaRetryLimit: 0,
        eventTriggerConfig: {
          parallelism: 1,
          replicaCompletionCount: 1,
          scale: {
            minExecutions: 0,
            maxExecutions: o.maxExecutions,
            pollingInterval: o.pollingInterval,
            rules: [scaleRule(o, id.identity)],
          },
        },
        ...registries(o, id.identity),
      },
      template: { containers: [worker] },
    },
    dependsOn: [
      id.environment,
      id.identity,
      id.queue(o.queue),
      // The worker needs its roles from its first execution, and the image pull needs AcrPull.
      ...storageRoleIds(o),
      ...(acr ? [id.acrPull] : []),
    ].map(expression),
  };
}

function apiResource(o: AzureDeployOptions): ContainerAppResource {
  const n = azureResourceNames(o.name);
  const id = ids(o);
  const cpu = Number(o.cpu);
  const port = IMAGE_FACTS.workerPort;
  const api: AppContainer = {
    name: 'api',
    image: IMAGE,
    command: ['node', ENTRY],
    args: ['start'],
    env: [
      ...workerEnvironment(o, id.identity),
      { name: ENV.THUMBNAILER_HOST, value: '0.0.0.0' },
      { name: ENV.THUMBNAILER_PORT, value: String(port) },
      // The jobs run in the event-driven job; this replica takes at most one itself.
      { name: ENV.THUMBNAILER_CONCURRENCY, value: '1' },
      { name: ENV.THUMBNAILER_API_TOKEN, secretRef: 'api-token' },
    ],
    resources: { cpu, memory: memoryFor(cpu) },
    probes: [
      { type: 'Startup', httpGet: { path: '/healthz', port }, periodSeconds: 2, failureThreshold: 30 },
      { type: 'Liveness', httpGet: { path: '/healthz', port }, periodSeconds: 10, failureThreshold: 6 },
      { type: 'Readiness', httpGet: { path: '/readyz', port }, periodSeconds: 10, failureThreshold: 3 },
    ],
  };
  const acr = acrRegistry(o.image);
  return {
    type: 'Microsoft.App/containerApps',
    apiVersion: API_VERSIONS['Microsoft.App'],
    name: n.api,
    location: LOCATION,
    identity: userAssigned(id.identity),
    properties: {
      environmentId: expression(id.environment),
      workloadProfileName: 'Consumption',
      configuration: {
        activeRevisionsMode: 'Single',
        // The token as a Container Apps secret, from a secure parameter: never in the template.
        secrets: [{ name: 'api-token', value: "[parameters('apiToken')]" }],
        ingress: { external: true, targetPort: port, transport: 'auto', allowInsecure: false },
        ...registries(o, id.identity),
      },
      template: {
        terminationGracePeriodSeconds: terminationGraceSeconds(o.graceSeconds),
        containers: [api],
        scale: {
          minReplicas: 0,
          maxReplicas: 2,
          rules: [{ name: 'http', http: { metadata: { concurrentRequests: '50' } } }],
        },
      },
    },
    dependsOn: [id.environment, id.identity, ...storageRoleIds(o), ...(acr ? [id.acrPull] : [])].map(
      expression,
    ),
  };
}

/** The worker's data roles on the account, in template order. */
const STORAGE_ROLES: readonly BuiltInRole[] = [
  'Storage Blob Data Contributor',
  'Storage Queue Data Contributor',
  'Storage Table Data Contributor',
];

const storageScope = {
  path: `format('Microsoft.Storage/storageAccounts/{0}', ${STORAGE})`,
};

function storageRoleAssignments(o: AzureDeployOptions): RoleAssignmentResource[] {
  const id = ids(o);
  return STORAGE_ROLES.map((role) =>
    roleAssignment({ id: id.storageAccount, ...storageScope }, id.identity, role, [
      id.storageAccount,
      id.identity,
    ]),
  );
}

/** The IDs of the worker's storage role assignments, for `dependsOn`. */
function storageRoleIds(o: AzureDeployOptions): string[] {
  const id = ids(o);
  return STORAGE_ROLES.map(
    (role) =>
      `extensionResourceId(${id.storageAccount}, 'Microsoft.Authorization/roleAssignments', ` +
      `guid(${id.storageAccount}, ${id.identity}, ${roleDefinitionId(role)}))`,
  );
}

function queuePath(queue: string): string {
  return `format('Microsoft.Storage/storageAccounts/{0}/queueServices/default/queues/{1}', ${STORAGE}, ${literal(queue)})`;
}

/** The role Event Grid's identity needs to deliver: send messages, to the request queue only. */
function eventsRoleAssignment(o: AzureDeployOptions): RoleAssignmentResource {
  const id = ids(o);
  return roleAssignment(
    { id: id.queue(o.queue), path: queuePath(o.queue) },
    id.eventsIdentity,
    'Storage Queue Data Message Sender',
    [id.queue(o.queue), id.eventsIdentity],
  );
}

function eventsRoleId(o: AzureDeployOptions): string {
  const id = ids(o);
  const queue = id.queue(o.queue);
  return (
    `extensionResourceId(${queue}, 'Microsoft.Authorization/roleAssignments', ` +
    `guid(${queue}, ${id.eventsIdentity}, ${roleDefinitionId('Storage Queue Data Message Sender')}))`
  );
}

/** The subject prefix of blobs in the videos container, as Event Grid writes it. */
export function videoSubjectPrefix(videoContainer: string): string {
  return `/blobServices/default/containers/${videoContainer}/blobs/`;
}

function eventSubscription(o: AzureDeployOptions): EventSubscriptionResource {
  const n = azureResourceNames(o.name);
  const id = ids(o);
  return {
    type: 'Microsoft.EventGrid/systemTopics/eventSubscriptions',
    apiVersion: API_VERSIONS['Microsoft.EventGrid'],
    name: `${n.systemTopic}/${n.subscription}`,
    properties: {
      // Delivered with the topic's managed identity: no key or SAS on the destination.
      deliveryWithResourceIdentity: {
        identity: { type: 'UserAssigned', userAssignedIdentity: expression(id.eventsIdentity) },
        destination: {
          endpointType: 'StorageQueue',
          properties: {
            resourceId: expression(id.storageAccount),
            queueName: o.queue,
            // Never expire: an upload must not lose its thumbnails because the workers were down.
            queueMessageTimeToLiveInSeconds: -1,
          },
        },
      },
      filter: {
        includedEventTypes: ['Microsoft.Storage.BlobCreated'],
        // Only the videos container: the outputs the service writes cannot loop back.
        subjectBeginsWith: videoSubjectPrefix(o.videoContainer),
        isSubjectCaseSensitive: true,
        enableAdvancedFilteringOnArrays: true,
      },
      eventDeliverySchema: 'EventGridSchema',
      retryPolicy: { maxDeliveryAttempts: 30, eventTimeToLiveInMinutes: 1440 },
    },
    dependsOn: [id.systemTopic, id.storageAccount, id.eventsIdentity, id.queue(o.queue), eventsRoleId(o)].map(
      expression,
    ),
  };
}

/** AcrPull for the worker's identity on the registry, which may live in another resource group. */
function acrPullDeployment(o: AzureDeployOptions): NestedDeploymentResource | undefined {
  if (!acrRegistry(o.image)) return undefined;
  const id = ids(o);
  const registry = resourceId('Microsoft.ContainerRegistry/registries', "parameters('registryName')");
  const inner: RoleAssignmentResource = {
    ...roleAssignment(
      {
        id: registry,
        path: "format('Microsoft.ContainerRegistry/registries/{0}', parameters('registryName'))",
      },
      "parameters('identityId')",
      'AcrPull',
      [],
    ),
    properties: {
      roleDefinitionId: expression(roleDefinitionId('AcrPull')),
      principalId: "[parameters('principalId')]",
      principalType: 'ServicePrincipal',
      description: 'video-thumbnailer: AcrPull',
    },
  };
  delete inner.dependsOn;
  return {
    type: 'Microsoft.Resources/deployments',
    apiVersion: API_VERSIONS['Microsoft.Resources'],
    name: azureResourceNames(o.name).acrPull,
    resourceGroup: "[parameters('registryResourceGroup')]",
    properties: {
      mode: 'Incremental',
      expressionEvaluationOptions: { scope: 'Inner' },
      parameters: {
        registryName: { value: "[parameters('registryName')]" },
        identityId: { value: expression(id.identity) },
        principalId: { value: expression(principalOf(id.identity)) },
      },
      template: {
        $schema: TEMPLATE_SCHEMA,
        contentVersion: '1.0.0.0',
        parameters: {
          registryName: { type: 'string', metadata: { description: 'Azure Container Registry name' } },
          identityId: { type: 'string', metadata: { description: 'resource ID of the worker identity' } },
          principalId: { type: 'string', metadata: { description: 'principal ID of the worker identity' } },
        },
        resources: [inner],
      },
    },
    dependsOn: [expression(id.identity)],
  };
}

function parameters(o: AzureDeployOptions): Record<string, TemplateParameter> {
  const params: Record<string, TemplateParameter> = {
    location: {
      type: 'string',
      defaultValue: o.location ?? '[resourceGroup().location]',
      metadata: { description: 'Azure region of every resource (default: the resource group’s)' },
    },
    image: {
      type: 'string',
      defaultValue: o.image,
      metadata: {
        description: 'container image: the worker target of the Dockerfile (or the Functions image)',
      },
    },
    storageAccountName: {
      type: 'string',
      // Globally unique, stable for this resource group and name.
      defaultValue: `[format('{0}{1}', take(replace(${literal(o.name)}, '-', ''), 11), uniqueString(resourceGroup().id, ${literal(o.name)}))]`,
      minLength: 3,
      maxLength: 24,
      metadata: { description: 'storage account for videos, thumbnails, queues and job state' },
    },
  };
  const acr = acrRegistry(o.image);
  if (acr) {
    params.registryName = {
      type: 'string',
      defaultValue: acr.name,
      minLength: 5,
      maxLength: 50,
      metadata: { description: 'Azure Container Registry the image is pulled from, with AcrPull' },
    };
    params.registryResourceGroup = {
      type: 'string',
      defaultValue: o.registryResourceGroup ?? '[resourceGroup().name]',
      metadata: { description: 'resource group of the Azure Container Registry the image is pulled from' },
    };
  }
  if (o.api) {
    params.apiToken = {
      type: 'securestring',
      minLength: 32,
      metadata: {
        description: `bearer token every /api call must carry (${ENV.THUMBNAILER_API_TOKEN}), kept as a Container Apps secret`,
      },
    };
  }
  return params;
}

function outputs(o: AzureDeployOptions): Record<string, TemplateOutput> {
  const n = azureResourceNames(o.name);
  const id = ids(o);
  const out: Record<string, TemplateOutput> = {
    storageAccountName: { type: 'string', value: expression(STORAGE) },
    videoContainer: { type: 'string', value: o.videoContainer },
    thumbnailContainer: { type: 'string', value: o.thumbnailContainer },
    requestQueue: { type: 'string', value: o.queue },
    poisonQueue: { type: 'string', value: poisonQueueName(o.queue) },
    eventsQueue: { type: 'string', value: o.eventsQueue },
    jobsTable: { type: 'string', value: JOBS_TABLE },
    jobName: { type: 'string', value: n.job },
    environmentName: { type: 'string', value: n.environment },
    logAnalyticsWorkspaceId: {
      type: 'string',
      value: expression(
        `reference(${id.workspace}, ${literal(API_VERSIONS['Microsoft.OperationalInsights'])}).customerId`,
      ),
    },
    identityClientId: { type: 'string', value: expression(clientIdOf(id.identity)) },
  };
  if (o.api) {
    out.apiName = { type: 'string', value: n.api };
    out.apiUrl = {
      type: 'string',
      value: expression(
        `format('https://{0}', reference(${id.api}, ${literal(API_VERSIONS['Microsoft.App'])}).configuration.ingress.fqdn)`,
      ),
    };
  }
  return out;
}

/**
 * The command line that prints this template: the flags that differ from their defaults, in a
 * fixed order. The template's metadata carries it, and without `--dry-run` the command prints it.
 */
export function azureCommandLine(o: AzureDeployOptions, { dryRun = true } = {}): string {
  const flags = [`--name ${o.name}`, `--image ${o.image}`];
  if (o.location) flags.push(`--location ${o.location}`);
  if (o.api) flags.push('--api');
  for (const [key, value] of Object.entries(AZURE_DEFAULTS)) {
    const actual = o[key as keyof typeof AZURE_DEFAULTS];
    if (actual !== value) flags.push(`${deployFlag(key)} ${actual}`);
  }
  if (o.registryResourceGroup) flags.push(`--registry-resource-group ${o.registryResourceGroup}`);
  if (dryRun) flags.push('--dry-run');
  return `thumbnailer deploy azure ${flags.join(' ')}`;
}

/** The whole template for these options, resources in dependency order. */
export function buildAzureTemplate(o: AzureDeployOptions): DeploymentTemplate {
  const n = azureResourceNames(o.name);
  const id = ids(o);
  const storageApi = API_VERSIONS['Microsoft.Storage'];
  const container = (name: string): ContainerResource => ({
    type: 'Microsoft.Storage/storageAccounts/blobServices/containers',
    apiVersion: storageApi,
    name: `[format('{0}/default/{1}', ${STORAGE}, ${literal(name)})]`,
    properties: { publicAccess: 'None' },
    dependsOn: [expression(id.storageAccount)],
  });
  const queue = (name: string): QueueResource => ({
    type: 'Microsoft.Storage/storageAccounts/queueServices/queues',
    apiVersion: storageApi,
    name: `[format('{0}/default/{1}', ${STORAGE}, ${literal(name)})]`,
    properties: { metadata: { 'video-thumbnailer': 'true' } },
    dependsOn: [expression(id.storageAccount)],
  });
  const acrPull = acrPullDeployment(o);

  const resources: TemplateResource[] = [
    {
      type: 'Microsoft.ManagedIdentity/userAssignedIdentities',
      apiVersion: API_VERSIONS['Microsoft.ManagedIdentity'],
      name: n.identity,
      location: LOCATION,
      properties: {},
    },
    {
      type: 'Microsoft.ManagedIdentity/userAssignedIdentities',
      apiVersion: API_VERSIONS['Microsoft.ManagedIdentity'],
      name: n.eventsIdentity,
      location: LOCATION,
      properties: {},
    },
    {
      type: 'Microsoft.Storage/storageAccounts',
      apiVersion: storageApi,
      name: expression(STORAGE),
      location: LOCATION,
      sku: { name: 'Standard_LRS' },
      kind: 'StorageV2',
      properties: {
        // Identity only: Shared Key (account keys, account and service SAS) is refused.
        allowSharedKeyAccess: false,
        defaultToOAuthAuthentication: true,
        allowBlobPublicAccess: false,
        minimumTlsVersion: 'TLS1_2',
        allowCrossTenantReplication: false,
        publicNetworkAccess: 'Enabled',
        accessTier: 'Hot',
      },
    },
    container(o.videoContainer),
    container(o.thumbnailContainer),
    queue(o.queue),
    queue(poisonQueueName(o.queue)),
    queue(o.eventsQueue),
    {
      type: 'Microsoft.Storage/storageAccounts/tableServices/tables',
      apiVersion: storageApi,
      name: `[format('{0}/default/{1}', ${STORAGE}, ${literal(JOBS_TABLE)})]`,
      dependsOn: [expression(id.storageAccount)],
    },
    ...storageRoleAssignments(o),
    ...(acrPull ? [acrPull] : []),
    {
      type: 'Microsoft.OperationalInsights/workspaces',
      apiVersion: API_VERSIONS['Microsoft.OperationalInsights'],
      name: n.workspace,
      location: LOCATION,
      properties: {
        sku: { name: 'PerGB2018' },
        retentionInDays: 30,
        // Logs arrive through a diagnostic setting (Entra ID); no workspace key is ever used.
        features: { disableLocalAuth: true },
      },
    },
    {
      type: 'Microsoft.App/managedEnvironments',
      apiVersion: API_VERSIONS['Microsoft.App'],
      name: n.environment,
      location: LOCATION,
      properties: {
        // `azure-monitor` plus the diagnostic setting below: `log-analytics` would need the
        // workspace's shared key in the template.
        appLogsConfiguration: { destination: 'azure-monitor' },
        workloadProfiles: [{ name: 'Consumption', workloadProfileType: 'Consumption' }],
        zoneRedundant: false,
      },
    },
    {
      type: 'Microsoft.Insights/diagnosticSettings',
      apiVersion: API_VERSIONS['Microsoft.Insights'],
      name: n.diagnostics,
      scope: expression(`format('Microsoft.App/managedEnvironments/{0}', ${literal(n.environment)})`),
      properties: {
        workspaceId: expression(id.workspace),
        // Resource-specific tables: ContainerAppConsoleLogs, ContainerAppSystemLogs.
        logAnalyticsDestinationType: 'Dedicated',
        logs: [
          { category: 'ContainerAppConsoleLogs', enabled: true },
          { category: 'ContainerAppSystemLogs', enabled: true },
        ],
        metrics: [{ category: 'AllMetrics', enabled: true }],
      },
      dependsOn: [id.environment, id.workspace].map(expression),
    },
    jobResource(o),
    ...(o.api ? [apiResource(o)] : []),
    eventsRoleAssignment(o),
    {
      type: 'Microsoft.EventGrid/systemTopics',
      apiVersion: API_VERSIONS['Microsoft.EventGrid'],
      name: n.systemTopic,
      location: LOCATION,
      identity: { type: 'UserAssigned', userAssignedIdentities: { [expression(id.eventsIdentity)]: {} } },
      properties: { source: expression(id.storageAccount), topicType: 'Microsoft.Storage.StorageAccounts' },
      dependsOn: [id.storageAccount, id.eventsIdentity].map(expression),
    },
    eventSubscription(o),
  ];

  return {
    $schema: TEMPLATE_SCHEMA,
    contentVersion: '1.0.0.0',
    metadata: {
      description:
        'video-thumbnailer on Azure Container Apps: one job execution per queued video, identity only',
      generator: `${azureCommandLine(o)} (docs/azure.md)`,
    },
    parameters: parameters(o),
    resources,
    outputs: outputs(o),
  };
}

/** A parameters file for the template: the defaults spelled out, the secret as a Key Vault reference. */
export function buildParametersExample(o: AzureDeployOptions): unknown {
  const values: Record<string, unknown> = {
    location: { value: o.location ?? 'westeurope' },
    image: { value: o.image },
    storageAccountName: { value: `${o.name.replace(/-/g, '').slice(0, 11)}media01` },
  };
  const acr = acrRegistry(o.image);
  if (acr) {
    values.registryName = { value: acr.name };
    values.registryResourceGroup = { value: o.registryResourceGroup ?? 'shared-registry' };
  }
  if (o.api) {
    values.apiToken = {
      reference: {
        keyVault: {
          id: '/subscriptions/<subscription-id>/resourceGroups/<resource-group>/providers/Microsoft.KeyVault/vaults/<vault>',
        },
        secretName: 'thumbnailer-api-token',
      },
    };
  }
  return { $schema: PARAMETERS_SCHEMA, contentVersion: '1.0.0.0', parameters: values };
}

const PRINT_WIDTH = 110;

/**
 * The template as printed and committed: two-space JSON as Prettier writes it (objects expanded,
 * an array of plain values on one line when it fits in 110 columns), so the committed files pass
 * `prettier --check` unchanged.
 */
export function toJson(value: unknown): string {
  const print = (v: unknown, indent: string, prefix: string, suffix: string): string => {
    if (Array.isArray(v)) {
      if (v.length === 0) return `${indent}${prefix}[]${suffix}`;
      if (v.every((item) => item === null || typeof item !== 'object')) {
        const line = `${indent}${prefix}[${v.map((item) => JSON.stringify(item)).join(', ')}]${suffix}`;
        if (line.length <= PRINT_WIDTH) return line;
      }
      const items = v.map((item, i) => print(item, indent + '  ', '', i < v.length - 1 ? ',' : ''));
      return [`${indent}${prefix}[`, ...items, `${indent}]${suffix}`].join('\n');
    }
    if (v !== null && typeof v === 'object') {
      const entries = Object.entries(v).filter(([, item]) => item !== undefined);
      if (entries.length === 0) return `${indent}${prefix}{}${suffix}`;
      const items = entries.map(([key, item], i) =>
        print(item, indent + '  ', `${JSON.stringify(key)}: `, i < entries.length - 1 ? ',' : ''),
      );
      return [`${indent}${prefix}{`, ...items, `${indent}}${suffix}`].join('\n');
    }
    return `${indent}${prefix}${JSON.stringify(v)}${suffix}`;
  };
  return print(value, '', '', '') + '\n';
}
