import { ScaledJob } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledJob';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { TriggerAuthentication } from '@kubernetes-models/keda/keda.sh/v1alpha1/TriggerAuthentication';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IEnvVar } from 'kubernetes-models/v1/EnvVar';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import type { IProbe } from 'kubernetes-models/v1/Probe';
import { Secret } from 'kubernetes-models/v1/Secret';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { ENV } from '../config.js';
import type { DeployOptions } from './options.js';

/**
 * `thumbnailer deploy kubernetes` as pure functions: options in, typed Kubernetes and KEDA model
 * objects out (each with `.validate()` against its published schema). Nothing here reads the
 * environment or the cluster; `yaml.ts` prints, `apply.ts` applies.
 */

/** Facts about the image (issue 5) and the worker that the manifests rely on. */
export const IMAGE_FACTS = {
  /** The Functions base image's script root; the compiled app lives here. */
  appRoot: '/home/site/wwwroot',
  /** The image's `thumbnailer` user. */
  uid: 1000,
  gid: 1000,
  /** The Functions host listens here (ASPNETCORE_URLS), not on the privileged 80 of the base image. */
  functionsPort: 8080,
  /** The worker's health server: /healthz and /readyz (THUMBNAILER_PORT). */
  workerPort: 7071,
} as const;

/** The Secret key holding the connection string: the variable's own name, the Functions convention. */
export const CONNECTION_KEY = ENV.AzureWebJobsStorage;
/** How long `worker --once` waits for a message before exiting without work. */
export const ONCE_WAIT_SECONDS = 30;
/** Time between SIGTERM's drain deadline and SIGKILL, for releasing messages and cleaning up. */
const KILL_MARGIN_SECONDS = 30;

/** How long a pod or replica may take to stop: the drain budget, then the margin before SIGKILL. */
export function terminationGraceSeconds(graceSeconds: number): number {
  return graceSeconds + KILL_MARGIN_SECONDS;
}

/**
 * The longest one `worker --once` execution may run (a ScaledJob's deadline, a Container Apps
 * replica timeout): waiting for its message, the job itself, then stopping. The worker's own job
 * timeout ends a stuck job first; this is the backstop.
 */
export function onceDeadlineSeconds(o: { jobTimeout: number; graceSeconds: number }): number {
  return ONCE_WAIT_SECONDS + o.jobTimeout + terminationGraceSeconds(o.graceSeconds);
}

/**
 * A pod spec both the core schema (Deployment) and KEDA's ScaledJob CRD accept: the CRD types its
 * pod template separately, and a little more strictly (a port's protocol is required).
 */
type JobPodSpec = NonNullable<ScaledJob['spec']>['jobTargetRef']['template']['spec'];
type PodSpec = IPodSpec & NonNullable<JobPodSpec>;
type Container = IContainer & NonNullable<JobPodSpec>['containers'][number];
type EnvVar = IEnvVar & NonNullable<Container['env']>[number];

export type KubernetesDocument =
  Secret | ServiceAccount | Deployment | TriggerAuthentication | ScaledObject | ScaledJob;

export interface ResourceNames {
  workload: string;
  secret: string;
  serviceAccount: string;
  triggerAuthentication: string;
}

export function resourceNames(name: string): ResourceNames {
  return {
    workload: name,
    secret: `${name}-storage`,
    serviceAccount: name,
    triggerAuthentication: `${name}-queue-auth`,
  };
}

export type Component = 'worker' | 'functions' | 'job';

export function componentOf(o: DeployOptions): Component {
  if (o.scaledJob) return 'job';
  return o.host;
}

function selectorLabels(o: DeployOptions): Record<string, string> {
  return { 'app.kubernetes.io/name': 'video-thumbnailer', 'app.kubernetes.io/instance': o.name };
}

function labels(o: DeployOptions): Record<string, string> {
  return {
    ...selectorLabels(o),
    'app.kubernetes.io/component': componentOf(o),
    'app.kubernetes.io/part-of': 'video-thumbnailer',
    'app.kubernetes.io/managed-by': 'thumbnailer',
  };
}

function metadata(o: DeployOptions, name: string, annotations?: Record<string, string>) {
  return {
    name,
    ...(o.namespace ? { namespace: o.namespace } : {}),
    labels: labels(o),
    ...(annotations ? { annotations } : {}),
  };
}

/** CPU in millicores to a quantity: 1000 -> "1", 500 -> "500m". */
function cpu(millicores: number): string {
  return millicores % 1000 === 0 ? String(millicores / 1000) : `${millicores}m`;
}

/** Memory in MiB to a quantity: 1024 -> "1Gi", 512 -> "512Mi". */
function mebibytes(mib: number): string {
  return mib % 1024 === 0 ? `${mib / 1024}Gi` : `${mib}Mi`;
}

/** Temporary disk of the pod beyond the jobs' own: on-demand frames' samples, the runtime's files. */
const TMP_HEADROOM_MIB = 1024;

/**
 * Sized for ffmpeg, per job slot: half a CPU and 256 MiB requested, one CPU and 512 MiB allowed
 * (the worker aims under 300 MB a job; ffmpeg decodes a 4K frame in well under the rest). Never
 * below two slots, so a single job still has headroom. The emptyDir holds every slot's temporary
 * disk limit (THUMBNAILER_MAX_TEMP_BYTES, which the engine checks before a remux or transcode
 * starts), so jobs are refused with a clear error rather than the pod evicted for exceeding it.
 */
export function sizing(o: DeployOptions) {
  const slots = Math.max(2, o.queueLength);
  return {
    resources: {
      requests: { cpu: cpu(500 * slots), memory: mebibytes(256 * slots) },
      limits: { cpu: cpu(1000 * slots), memory: mebibytes(512 * slots) },
    },
    maxTempBytes: o.tempDiskGib * 1024 ** 3,
    tmpSizeLimit: mebibytes(1024 * o.tempDiskGib * slots + TMP_HEADROOM_MIB),
  };
}

function storageEnv(o: DeployOptions): EnvVar[] {
  if (o.identity === 'workload') {
    // Identity-based connection (no key): DefaultAzureCredential picks up the federated token
    // that the workload identity webhook mounts (AZURE_CLIENT_ID, AZURE_FEDERATED_TOKEN_FILE).
    return [{ name: ENV.AzureWebJobsStorage__accountName, value: o.storageAccount! }];
  }
  return [
    {
      name: CONNECTION_KEY,
      valueFrom: { secretKeyRef: { name: resourceNames(o.name).secret, key: CONNECTION_KEY } },
    },
  ];
}

function environment(o: DeployOptions): EnvVar[] {
  const env: EnvVar[] = [
    ...storageEnv(o),
    { name: ENV.VIDEOCONTAINER, value: o.videoContainer },
    { name: ENV.THUMBNAILCONTAINER, value: o.thumbnailContainer },
    { name: ENV.THUMBNAIL_QUEUE, value: o.queue },
    { name: ENV.THUMBNAILER_JOB_TIMEOUT_MS, value: String(o.jobTimeout * 1000) },
    { name: ENV.THUMBNAILER_MAX_TEMP_BYTES, value: String(sizing(o).maxTempBytes) },
    // Temporary files only on the size-limited emptyDir; the root filesystem is read-only.
    { name: 'TMPDIR', value: '/tmp' },
  ];
  if (o.host === 'functions') {
    env.push(
      { name: 'FUNCTIONS_WORKER_RUNTIME', value: 'node' },
      { name: 'ASPNETCORE_URLS', value: `http://+:${IMAGE_FACTS.functionsPort}` },
      { name: 'AzureFunctionsJobHost__Logging__Console__IsEnabled', value: 'true' },
    );
  } else {
    env.push(
      { name: ENV.THUMBNAILER_HOST, value: '0.0.0.0' },
      { name: ENV.THUMBNAILER_PORT, value: String(IMAGE_FACTS.workerPort) },
      { name: ENV.THUMBNAILER_CONCURRENCY, value: String(o.queueLength) },
      { name: ENV.THUMBNAILER_SHUTDOWN_GRACE_MS, value: String(o.graceSeconds * 1000) },
    );
  }
  return env;
}

function httpProbe(path: string, port: string, periodSeconds: number, failureThreshold: number): IProbe {
  return { httpGet: { path, port }, periodSeconds, timeoutSeconds: 5, failureThreshold };
}

/** What runs, and how its health is probed, per entry. */
function entry(
  o: DeployOptions,
): Pick<
  Container,
  'workingDir' | 'command' | 'args' | 'ports' | 'startupProbe' | 'livenessProbe' | 'readinessProbe'
> {
  if (o.host === 'functions') {
    // The image's own entry point starts the Functions host; /admin/host/ping is anonymous.
    return {
      ports: [{ name: 'http', containerPort: IMAGE_FACTS.functionsPort, protocol: 'TCP' }],
      startupProbe: httpProbe('/admin/host/ping', 'http', 2, 60),
      livenessProbe: httpProbe('/admin/host/ping', 'http', 15, 4),
      readinessProbe: httpProbe('/admin/host/ping', 'http', 10, 3),
    };
  }
  const run = { workingDir: IMAGE_FACTS.appRoot, command: ['node', 'dist/hosts/cli/main.js'] };
  // A Job's pod ends with its one message: activeDeadlineSeconds bounds it, not a probe.
  if (o.scaledJob) return { ...run, args: ['worker', '--once', '--wait', String(ONCE_WAIT_SECONDS)] };
  return {
    ...run,
    args: ['worker'],
    ports: [{ name: 'health', containerPort: IMAGE_FACTS.workerPort, protocol: 'TCP' }],
    startupProbe: httpProbe('/healthz', 'health', 2, 30),
    livenessProbe: httpProbe('/healthz', 'health', 10, 6),
    readinessProbe: httpProbe('/readyz', 'health', 10, 3),
  };
}

function container(o: DeployOptions): Container {
  const { workingDir, command, args, ports, ...probes } = entry(o);
  return {
    name: componentOf(o) === 'functions' ? 'functions-host' : 'worker',
    image: o.image,
    ...(workingDir ? { workingDir, command, args } : {}),
    ...(ports ? { ports } : {}),
    env: environment(o),
    resources: sizing(o).resources,
    securityContext: {
      runAsNonRoot: true,
      runAsUser: IMAGE_FACTS.uid,
      runAsGroup: IMAGE_FACTS.gid,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      privileged: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    volumeMounts: [
      { name: 'tmp', mountPath: '/tmp' },
      // The Functions host writes its keys here; with a read-only root it needs a volume of its own.
      ...(o.host === 'functions'
        ? [{ name: 'functions-secrets', mountPath: '/azure-functions-host/Secrets' }]
        : []),
    ],
    ...probes,
  };
}

function scheduling(o: DeployOptions): Pick<IPodSpec, 'nodeSelector' | 'tolerations'> {
  if (!o.virtualNodes) return { nodeSelector: { 'kubernetes.io/os': 'linux' } };
  // AKS virtual nodes (Azure Container Instances): per-second billing for bursts.
  return {
    nodeSelector: { 'kubernetes.io/os': 'linux', 'kubernetes.io/role': 'agent', type: 'virtual-kubelet' },
    tolerations: [
      { key: 'virtual-kubelet.io/provider', operator: 'Exists' },
      { key: 'azure.com/aci', effect: 'NoSchedule' },
    ],
  };
}

function podSpec(o: DeployOptions): PodSpec {
  return {
    ...(o.identity === 'workload' ? { serviceAccountName: resourceNames(o.name).serviceAccount } : {}),
    // The app never calls the Kubernetes API; workload identity mounts its own token volume.
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    // SIGTERM starts the drain; SIGKILL only after the drain budget and a margin.
    terminationGracePeriodSeconds: terminationGraceSeconds(o.graceSeconds),
    securityContext: {
      runAsNonRoot: true,
      runAsUser: IMAGE_FACTS.uid,
      runAsGroup: IMAGE_FACTS.gid,
      fsGroup: IMAGE_FACTS.gid,
      seccompProfile: { type: 'RuntimeDefault' },
    },
    ...scheduling(o),
    ...(o.scaledJob ? { restartPolicy: 'Never' } : {}),
    containers: [container(o)],
    volumes: [
      { name: 'tmp', emptyDir: { sizeLimit: sizing(o).tmpSizeLimit } },
      ...(o.host === 'functions' ? [{ name: 'functions-secrets', emptyDir: { sizeLimit: '16Mi' } }] : []),
    ],
  };
}

function podLabels(o: DeployOptions): Record<string, string> {
  return {
    ...labels(o),
    ...(o.identity === 'workload' ? { 'azure.workload.identity/use': 'true' } : {}),
  };
}

function podAnnotations(o: DeployOptions): Record<string, string> | undefined {
  if (o.host !== 'worker' || o.scaledJob) return undefined;
  return {
    'prometheus.io/scrape': 'true',
    'prometheus.io/port': String(IMAGE_FACTS.workerPort),
    'prometheus.io/path': '/metrics',
  };
}

/**
 * The azure-queue trigger. `queueLengthStrategy: all` counts invisible (in-flight) messages as
 * well as visible ones, so a pod still working on a long video keeps counting towards the target
 * and is not scaled away under it.
 */
function trigger(o: DeployOptions) {
  return {
    type: 'azure-queue',
    metadata: {
      queueName: o.queue,
      queueLength: String(o.queueLength),
      activationQueueLength: '0',
      queueLengthStrategy: 'all',
      ...(o.identity === 'workload' ? { accountName: o.storageAccount! } : {}),
    },
    authenticationRef: { name: resourceNames(o.name).triggerAuthentication },
  };
}

function secretDocument(o: DeployOptions, connectionString?: string): Secret {
  const name = resourceNames(o.name).secret;
  return new Secret({
    metadata: metadata(o, name, {
      'video-thumbnailer/secret': `key ${CONNECTION_KEY}: the storage connection string, never in printed manifests; set it as docs/kubernetes.md shows`,
    }),
    type: 'Opaque',
    ...(connectionString ? { stringData: { [CONNECTION_KEY]: connectionString } } : {}),
  });
}

function serviceAccountDocument(o: DeployOptions): ServiceAccount {
  return new ServiceAccount({
    metadata: metadata(o, resourceNames(o.name).serviceAccount, {
      'azure.workload.identity/client-id': o.clientId!,
      ...(o.tenantId ? { 'azure.workload.identity/tenant-id': o.tenantId } : {}),
    }),
    automountServiceAccountToken: false,
  });
}

function triggerAuthenticationDocument(o: DeployOptions): TriggerAuthentication {
  const names = resourceNames(o.name);
  return new TriggerAuthentication({
    metadata: metadata(o, names.triggerAuthentication),
    spec:
      o.identity === 'workload'
        ? { podIdentity: { provider: 'azure-workload', identityId: o.clientId! } }
        : { secretTargetRef: [{ parameter: 'connection', name: names.secret, key: CONNECTION_KEY }] },
  });
}

function deploymentDocument(o: DeployOptions): Deployment {
  const annotations = podAnnotations(o);
  return new Deployment({
    metadata: metadata(o, resourceNames(o.name).workload),
    spec: {
      // No `replicas`: KEDA owns the count, and re-applying must not reset it.
      revisionHistoryLimit: 5,
      selector: { matchLabels: selectorLabels(o) },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: 0 } },
      template: {
        metadata: { labels: podLabels(o), ...(annotations ? { annotations } : {}) },
        spec: podSpec(o),
      },
    },
  });
}

function scaledObjectDocument(o: DeployOptions): ScaledObject {
  return new ScaledObject({
    metadata: metadata(o, resourceNames(o.name).workload),
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: resourceNames(o.name).workload },
      minReplicaCount: o.minReplicas,
      maxReplicaCount: o.maxReplicas,
      pollingInterval: o.pollingInterval,
      cooldownPeriod: o.cooldownPeriod,
      advanced: {
        horizontalPodAutoscalerConfig: {
          behavior: {
            // Scale in gently: one pod a minute after five quiet minutes, each pod draining first.
            scaleDown: {
              stabilizationWindowSeconds: 300,
              policies: [{ type: 'Pods', value: 1, periodSeconds: 60 }],
            },
          },
        },
      },
      triggers: [trigger(o)],
    },
  });
}

function scaledJobDocument(o: DeployOptions): ScaledJob {
  const activeDeadlineSeconds = onceDeadlineSeconds(o);
  return new ScaledJob({
    metadata: metadata(o, resourceNames(o.name).workload),
    spec: {
      jobTargetRef: {
        parallelism: 1,
        completions: 1,
        // A failed delivery is retried by the queue (visibility timeout, dequeue count), not by the Job.
        backoffLimit: 0,
        activeDeadlineSeconds,
        template: { metadata: { labels: podLabels(o) }, spec: podSpec(o) },
      },
      minReplicaCount: o.minReplicas,
      maxReplicaCount: o.maxReplicas,
      pollingInterval: o.pollingInterval,
      successfulJobsHistoryLimit: 5,
      failedJobsHistoryLimit: 10,
      // Updating the ScaledJob must not kill Jobs in the middle of a long video.
      rollout: { strategy: 'gradual' },
      // `default` creates (queue length - running Jobs): right when the length includes in-flight
      // messages (queueLengthStrategy all), which the running Jobs already hold.
      scalingStrategy: { strategy: 'default' },
      triggers: [trigger(o)],
    },
  });
}

export interface BuildSecrets {
  /** Only for applying to a cluster: never passed when printing. */
  connectionString?: string;
}

/** Every document of the variant the options describe, in apply order. */
export function buildManifests(o: DeployOptions, secrets: BuildSecrets = {}): KubernetesDocument[] {
  const auth: KubernetesDocument[] =
    o.identity === 'workload' ? [serviceAccountDocument(o)] : [secretDocument(o, secrets.connectionString)];
  const workload: KubernetesDocument[] = o.scaledJob
    ? [scaledJobDocument(o)]
    : [deploymentDocument(o), scaledObjectDocument(o)];
  return [...auth, triggerAuthenticationDocument(o), ...workload];
}
