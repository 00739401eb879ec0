import { ScaledJob } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledJob';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { TriggerAuthentication } from '@kubernetes-models/keda/keda.sh/v1alpha1/TriggerAuthentication';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import { Secret } from 'kubernetes-models/v1/Secret';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as prettier from 'prettier';
import { parseAllDocuments } from 'yaml';
import {
  buildManifests,
  CONNECTION_KEY,
  IMAGE_FACTS,
  ONCE_WAIT_SECONDS,
  type KubernetesDocument,
} from '../src/deploy/manifests.js';
import { parseDeployOptions, type DeployOptionsInput } from '../src/deploy/options.js';
import { COMMITTED_VARIANTS, committedFiles } from '../src/deploy/variants.js';
import { toYaml } from '../src/deploy/yaml.js';
import { ENV, loadSettings } from '../src/config.js';
import { ThumbnailerError } from '../src/errors.js';

const run = promisify(execFile);
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const committedRoot = join(root, 'deploy', 'kubernetes');

const CLIENT_ID = '11111111-2222-3333-4444-555555555555';
const base = { name: 'thumbs', image: 'myacr.azurecr.io/video-thumbnailer:1.2.3' } as const;
const workload = { identity: 'workload', storageAccount: 'mediastore', clientId: CLIENT_ID } as const;

/** Every variant the command can print, by name. */
const VARIANTS: Record<string, DeployOptionsInput> = {
  worker: { ...base },
  functions: { ...base, host: 'functions' },
  'scaled job': { ...base, scaledJob: true },
  'workload identity': { ...base, ...workload },
  'workload identity, functions host': { ...base, ...workload, host: 'functions' },
  'workload identity, scaled job': { ...base, ...workload, scaledJob: true, tenantId: CLIENT_ID },
  'virtual nodes': { ...base, virtualNodes: true },
  'virtual nodes, scaled job, namespace': {
    ...base,
    virtualNodes: true,
    scaledJob: true,
    namespace: 'media',
  },
  'tuned worker': { ...base, minReplicas: 1, maxReplicas: 50, queueLength: 4, graceSeconds: 600 },
};

const MODELS = { Secret, ServiceAccount, Deployment, TriggerAuthentication, ScaledObject, ScaledJob };

function build(input: DeployOptionsInput) {
  const options = parseDeployOptions(input);
  const documents = buildManifests(options);
  const of = <K extends keyof typeof MODELS>(kind: K) =>
    documents.filter((d): d is InstanceType<(typeof MODELS)[K]> => d.kind === kind);
  return { options, documents, of };
}

function pod(document: KubernetesDocument): { spec: IPodSpec; labels: Record<string, string> } {
  if (document instanceof Deployment) {
    return { spec: document.spec!.template.spec!, labels: document.spec!.template.metadata!.labels! };
  }
  if (document instanceof ScaledJob) {
    const template = document.spec!.jobTargetRef.template;
    return {
      spec: template.spec as IPodSpec,
      labels: (template.metadata as { labels: Record<string, string> }).labels,
    };
  }
  throw new Error(`${document.kind} has no pod template`);
}

function env(c: IContainer, name: string) {
  return c.env?.find((e) => e.name === name);
}

/** A Kubernetes quantity in base units (bytes, cores). */
function quantity(value: string | number | undefined): number {
  const match = /^(\d+(?:\.\d+)?)(m|Ki|Mi|Gi)?$/.exec(String(value));
  assert.ok(match, `quantity ${value}`);
  const scale = { m: 1e-3, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 }[match[2] ?? ''] ?? 1;
  return Number(match[1]) * scale;
}

function rejects(input: Record<string, unknown>, flag: string, pattern: RegExp) {
  assert.throws(
    () => parseDeployOptions({ ...base, ...input } as DeployOptionsInput),
    (error: unknown) =>
      ThumbnailerError.is(error) &&
      error.code === 'E_OPTION_INVALID' &&
      error.message.startsWith(`Invalid ${flag}: `) &&
      pattern.test(error.message),
  );
}

/**
 * Runs `thumbnailer deploy kubernetes ...` as a user would (a child process, so its stdout is its
 * own), through the command's `register` on a bare commander program.
 */
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

function parseYaml(text: string): unknown[] {
  return parseAllDocuments(text).map((d) => {
    assert.equal(d.errors.length, 0, String(d.errors[0]));
    return d.toJS();
  });
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

describe('deploy kubernetes: every variant validates against the Kubernetes and KEDA schemas', () => {
  for (const [name, input] of Object.entries(VARIANTS)) {
    test(name, () => {
      const { options, documents } = build(input);
      assert.ok(documents.length >= 3);
      for (const document of documents) {
        assert.doesNotThrow(() => document.validate(), `${document.kind} ${document.metadata?.name}`);
        assert.equal(document.metadata?.namespace, options.namespace);
        assert.equal(document.metadata?.labels?.['app.kubernetes.io/instance'], options.name);
        if (document.apiVersion.startsWith('keda')) assert.equal(document.apiVersion, 'keda.sh/v1alpha1');
      }
      const kinds = documents.map((d) => d.kind);
      assert.deepEqual(kinds, [
        options.identity === 'workload' ? 'ServiceAccount' : 'Secret',
        'TriggerAuthentication',
        ...(options.scaledJob ? ['ScaledJob'] : ['Deployment', 'ScaledObject']),
      ]);
      const yaml = toYaml(documents);
      assert.doesNotMatch(yaml, /keda\.k8s\.io/, 'the seed’s retired KEDA API');
      // Round trip: the printed YAML is the same documents.
      assert.deepEqual(
        parseYaml(yaml),
        documents.map((d) => d.toJSON()),
      );
    });
  }
});

describe('deploy kubernetes: scaling on the queue', () => {
  test('ScaledObject scales the Deployment from zero on thumbnail-requests, counting in-flight messages', () => {
    const { of } = build(VARIANTS.worker!);
    const [deployment] = of('Deployment');
    const [scaledObject] = of('ScaledObject');
    const [auth] = of('TriggerAuthentication');
    const spec = scaledObject!.spec;
    assert.deepEqual(spec.scaleTargetRef, {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: deployment!.metadata!.name,
    });
    assert.equal(spec.minReplicaCount, 0);
    assert.equal(spec.maxReplicaCount, 10);
    assert.equal(spec.pollingInterval, 15);
    assert.equal(spec.cooldownPeriod, 300);
    assert.equal(deployment!.spec!.replicas, undefined, 'KEDA owns the replica count');
    assert.equal(spec.triggers.length, 1);
    const trigger = spec.triggers[0]!;
    assert.equal(trigger.type, 'azure-queue');
    assert.deepEqual(trigger.metadata, {
      queueName: 'thumbnail-requests',
      queueLength: '2',
      activationQueueLength: '0',
      queueLengthStrategy: 'all',
    });
    assert.equal(trigger.authenticationRef?.name, auth!.metadata!.name);
    const behavior = spec.advanced?.horizontalPodAutoscalerConfig?.behavior;
    assert.ok(behavior?.scaleDown?.policies?.length, 'gentle scale-down policy');
  });

  test('the queue length target is the worker’s concurrency', () => {
    const { of } = build(VARIANTS['tuned worker']!);
    const scaledObject = of('ScaledObject')[0]!;
    assert.equal(scaledObject.spec.minReplicaCount, 1);
    assert.equal(scaledObject.spec.maxReplicaCount, 50);
    assert.equal(scaledObject.spec.triggers[0]!.metadata.queueLength, '4');
    const container = pod(of('Deployment')[0]!).spec.containers[0]!;
    assert.equal(env(container, 'THUMBNAILER_CONCURRENCY')?.value, '4');
  });

  test('flags name the queue and containers the pods and the trigger use', () => {
    const { of } = build({ ...base, queue: 'jobs-in', videoContainer: 'raw', thumbnailContainer: 'out' });
    assert.equal(of('ScaledObject')[0]!.spec.triggers[0]!.metadata.queueName, 'jobs-in');
    const container = pod(of('Deployment')[0]!).spec.containers[0]!;
    assert.equal(env(container, 'THUMBNAIL_QUEUE')?.value, 'jobs-in');
    assert.equal(env(container, 'VIDEOCONTAINER')?.value, 'raw');
    assert.equal(env(container, 'THUMBNAILCONTAINER')?.value, 'out');
  });

  test('ScaledJob runs `thumbnailer worker --once` per message, with a deadline and history limits', () => {
    const { options, of } = build(VARIANTS['scaled job']!);
    assert.equal(of('Deployment').length + of('ScaledObject').length, 0);
    const spec = of('ScaledJob')[0]!.spec!;
    const container = pod(of('ScaledJob')[0]!).spec.containers[0]!;
    assert.deepEqual(container.args, ['worker', '--once', '--wait', String(ONCE_WAIT_SECONDS)]);
    assert.deepEqual(container.command, ['node', 'dist/hosts/cli/main.js']);
    assert.equal(container.workingDir, IMAGE_FACTS.appRoot);
    assert.equal(spec.minReplicaCount, 0);
    assert.equal(spec.maxReplicaCount, 10);
    assert.deepEqual(spec.scalingStrategy, { strategy: 'default' });
    assert.deepEqual(spec.rollout, { strategy: 'gradual' });
    assert.equal(spec.successfulJobsHistoryLimit, 5);
    assert.equal(spec.failedJobsHistoryLimit, 10);
    assert.equal(spec.jobTargetRef.backoffLimit, 0, 'the queue retries, not the Job');
    assert.equal(spec.jobTargetRef.template.spec?.restartPolicy, 'Never');
    const deadline = spec.jobTargetRef.activeDeadlineSeconds!;
    assert.ok(deadline > options.jobTimeout + ONCE_WAIT_SECONDS, `deadline ${deadline}`);
    assert.equal(Number(env(container, 'THUMBNAILER_JOB_TIMEOUT_MS')?.value), options.jobTimeout * 1000);
    const trigger = spec.triggers[0]!;
    assert.equal(trigger.type, 'azure-queue');
    assert.equal(trigger.metadata.queueName, 'thumbnail-requests');
    assert.equal(trigger.metadata.queueLength, '1');
    assert.equal(trigger.metadata.activationQueueLength, '0');
    assert.equal(trigger.metadata.queueLengthStrategy, 'all');
  });
});

describe('deploy kubernetes: storage authentication', () => {
  test('connection string: a Secret without a value, referenced by the pods and by KEDA', () => {
    for (const name of ['worker', 'functions', 'scaled job']) {
      const { documents, of } = build(VARIANTS[name]!);
      const [secret] = of('Secret');
      assert.ok(secret, name);
      assert.equal(secret.type, 'Opaque');
      assert.equal(secret.data, undefined, 'no key in printed manifests');
      assert.equal(secret.stringData, undefined, 'no key in printed manifests');
      assert.equal(of('ServiceAccount').length, 0);
      const auth = of('TriggerAuthentication')[0]!;
      assert.deepEqual(auth.spec?.secretTargetRef, [
        { parameter: 'connection', name: secret.metadata!.name, key: CONNECTION_KEY },
      ]);
      assert.equal(auth.spec?.podIdentity, undefined);
      const workload = documents.find((d) => d.kind === 'Deployment' || d.kind === 'ScaledJob')!;
      const { spec } = pod(workload);
      assert.equal(spec.serviceAccountName, undefined);
      assert.deepEqual(env(spec.containers[0]!, CONNECTION_KEY)?.valueFrom, {
        secretKeyRef: { name: secret.metadata!.name, key: CONNECTION_KEY },
      });
    }
  });

  test('workload identity: ServiceAccount, pod label, KEDA podIdentity; no Secret and no key anywhere', () => {
    for (const name of [
      'workload identity',
      'workload identity, functions host',
      'workload identity, scaled job',
    ]) {
      const { documents, of } = build(VARIANTS[name]!);
      assert.equal(of('Secret').length, 0, name);
      const account = of('ServiceAccount')[0]!;
      assert.equal(account.metadata?.annotations?.['azure.workload.identity/client-id'], CLIENT_ID);
      const auth = of('TriggerAuthentication')[0]!;
      assert.deepEqual(auth.spec?.podIdentity, { provider: 'azure-workload', identityId: CLIENT_ID });
      assert.equal(auth.spec?.secretTargetRef, undefined);
      const workload = documents.find((d) => d.kind === 'Deployment' || d.kind === 'ScaledJob')!;
      const { spec, labels } = pod(workload);
      assert.equal(labels['azure.workload.identity/use'], 'true');
      assert.equal(spec.serviceAccountName, account.metadata!.name);
      const container = spec.containers[0]!;
      assert.equal(env(container, CONNECTION_KEY), undefined);
      assert.equal(env(container, `${CONNECTION_KEY}__accountName`)?.value, 'mediastore');
      const scaler = of('ScaledObject')[0]?.spec.triggers[0] ?? of('ScaledJob')[0]!.spec!.triggers[0]!;
      assert.equal(scaler.metadata.accountName, 'mediastore');
      assert.doesNotMatch(toYaml(documents), /secretKeyRef|secretTargetRef|kind: Secret/);
    }
    const tenant = build(VARIANTS['workload identity, scaled job']!).of('ServiceAccount')[0]!;
    assert.equal(tenant.metadata?.annotations?.['azure.workload.identity/tenant-id'], CLIENT_ID);
  });

  test('no account key in plain text in any printed variant', () => {
    for (const input of Object.values(VARIANTS)) {
      const yaml = toYaml(buildManifests(parseDeployOptions(input)));
      assert.doesNotMatch(
        yaml,
        /AccountKey|SharedAccessSignature|DefaultEndpointsProtocol|[?&]sig=|stringData|\bdata:/,
      );
    }
  });

  test('a connection string given for applying reaches the Secret, and printing such a Secret is refused', () => {
    const secretValue =
      'DefaultEndpointsProtocol=https;AccountName=a;AccountKey=c2VjcmV0;EndpointSuffix=core.windows.net';
    const documents = buildManifests(parseDeployOptions(VARIANTS.worker!), { connectionString: secretValue });
    const secret = documents.find((d): d is Secret => d.kind === 'Secret')!;
    assert.deepEqual(secret.stringData, { [CONNECTION_KEY]: secretValue });
    secret.validate();
    assert.throws(() => toYaml(documents), /refusing to print a Secret with data/);
  });
});

describe('deploy kubernetes: hardened pods sized for ffmpeg', () => {
  for (const [name, input] of Object.entries(VARIANTS)) {
    test(name, () => {
      const { options, documents } = build(input);
      const workload = documents.find((d) => d.kind === 'Deployment' || d.kind === 'ScaledJob')!;
      const { spec } = pod(workload);
      assert.equal(spec.automountServiceAccountToken, false);
      assert.equal(spec.securityContext?.runAsNonRoot, true);
      assert.equal(spec.securityContext?.runAsUser, 1000);
      assert.deepEqual(spec.securityContext?.seccompProfile, { type: 'RuntimeDefault' });
      assert.equal(spec.containers.length, 1);
      const container = spec.containers[0]!;
      assert.equal(container.image, base.image);
      const sc = container.securityContext!;
      assert.equal(sc.runAsNonRoot, true);
      assert.equal(sc.runAsUser, 1000);
      assert.equal(sc.readOnlyRootFilesystem, true);
      assert.equal(sc.allowPrivilegeEscalation, false);
      assert.equal(sc.privileged, false);
      assert.deepEqual(sc.capabilities, { drop: ['ALL'] });
      assert.deepEqual(sc.seccompProfile, { type: 'RuntimeDefault' });

      // Requests and limits, enough for the worker's < 300 MB a job plus ffmpeg.
      const { requests, limits } = container.resources!;
      for (const resource of ['cpu', 'memory']) {
        assert.ok(quantity(requests![resource]) > 0, `${resource} request`);
        assert.ok(quantity(limits![resource]) >= quantity(requests![resource]), `${resource} limit`);
      }
      assert.ok(quantity(requests!.cpu) >= 1, 'at least one CPU for ffmpeg');
      assert.ok(quantity(limits!.memory) >= options.queueLength * 300e6, 'memory for every job slot');

      // The only writable place: a size-limited emptyDir on /tmp.
      const volume = spec.volumes?.find((v) => v.name === 'tmp');
      assert.ok(volume?.emptyDir?.sizeLimit, 'emptyDir with a sizeLimit');
      assert.ok(quantity(volume.emptyDir.sizeLimit) >= 1024 ** 3);
      // Writable places: a size-limited emptyDir on /tmp, and for the Functions host its key folder.
      const mounts = [{ name: 'tmp', mountPath: '/tmp' }];
      if (options.host === 'functions')
        mounts.push({ name: 'functions-secrets', mountPath: '/azure-functions-host/Secrets' });
      assert.deepEqual(container.volumeMounts, mounts);
      for (const v of spec.volumes ?? [])
        assert.ok(v.emptyDir?.sizeLimit, `${v.name}: emptyDir with a sizeLimit`);
      assert.equal(env(container, 'TMPDIR')?.value, '/tmp');

      // SIGTERM drains; SIGKILL comes only after the worker's grace period.
      assert.ok(spec.terminationGracePeriodSeconds! > options.graceSeconds);
      if (options.host === 'worker') {
        assert.equal(
          Number(env(container, ENV.THUMBNAILER_SHUTDOWN_GRACE_MS)?.value),
          options.graceSeconds * 1000,
        );
        assert.ok(
          spec.terminationGracePeriodSeconds! * 1000 >
            Number(env(container, ENV.THUMBNAILER_SHUTDOWN_GRACE_MS)?.value),
        );
      }

      if (options.virtualNodes) {
        assert.equal(spec.nodeSelector?.type, 'virtual-kubelet');
        assert.equal(spec.nodeSelector?.['kubernetes.io/role'], 'agent');
        assert.ok(
          spec.tolerations?.some((t) => t.key === 'virtual-kubelet.io/provider' && t.operator === 'Exists'),
        );
        assert.ok(spec.tolerations?.some((t) => t.key === 'azure.com/aci' && t.effect === 'NoSchedule'));
      } else {
        assert.deepEqual(spec.nodeSelector, { 'kubernetes.io/os': 'linux' });
        assert.equal(spec.tolerations, undefined);
      }
    });
  }

  test('the worker listens on 0.0.0.0:7071 and is probed on /healthz and /readyz', () => {
    const container = pod(build(VARIANTS.worker!).of('Deployment')[0]!).spec.containers[0]!;
    assert.deepEqual(container.args, ['worker']);
    assert.equal(env(container, 'THUMBNAILER_HOST')?.value, '0.0.0.0');
    assert.equal(env(container, 'THUMBNAILER_PORT')?.value, String(IMAGE_FACTS.workerPort));
    assert.deepEqual(container.ports, [{ name: 'health', containerPort: 7071, protocol: 'TCP' }]);
    assert.deepEqual(container.livenessProbe?.httpGet, { path: '/healthz', port: 'health' });
    assert.deepEqual(container.startupProbe?.httpGet, { path: '/healthz', port: 'health' });
    assert.deepEqual(container.readinessProbe?.httpGet, { path: '/readyz', port: 'health' });
  });

  test('the app reads the environment the pods set: src/config.ts accepts it and gets the intended settings', () => {
    for (const name of ['worker', 'tuned worker', 'scaled job', 'workload identity']) {
      const { options, documents } = build(VARIANTS[name]!);
      const container = pod(documents.find((d) => d.kind === 'Deployment' || d.kind === 'ScaledJob')!).spec
        .containers[0]!;
      const environment: NodeJS.ProcessEnv = {};
      for (const e of container.env ?? []) {
        // A Secret reference stands for the connection string the cluster would inject.
        environment[e.name] = e.valueFrom?.secretKeyRef ? 'UseDevelopmentStorage=true' : e.value;
      }
      const settings = loadSettings({}, environment);
      assert.equal(
        settings.storage?.kind,
        options.identity === 'workload' ? 'identity' : 'connectionString',
        name,
      );
      assert.equal(settings.queueName, options.queue);
      assert.equal(settings.host, '0.0.0.0');
      assert.equal(settings.port, IMAGE_FACTS.workerPort);
      assert.equal(settings.worker.concurrency, options.queueLength);
      assert.equal(
        settings.worker.shutdownGraceMs,
        options.graceSeconds * 1000,
        `${ENV.THUMBNAILER_SHUTDOWN_GRACE_MS} is read`,
      );
      assert.equal(settings.worker.jobTimeoutMs, options.jobTimeout * 1000);
    }
  });

  test('the Functions host keeps the image’s entry point, listens on 8080 and is probed on its ping', () => {
    const container = pod(build(VARIANTS.functions!).of('Deployment')[0]!).spec.containers[0]!;
    assert.equal(container.command, undefined);
    assert.equal(container.args, undefined);
    assert.equal(env(container, 'ASPNETCORE_URLS')?.value, 'http://+:8080');
    assert.equal(env(container, 'FUNCTIONS_WORKER_RUNTIME')?.value, 'node');
    assert.deepEqual(container.ports, [{ name: 'http', containerPort: 8080, protocol: 'TCP' }]);
    for (const probe of [container.livenessProbe, container.readinessProbe, container.startupProbe]) {
      assert.deepEqual(probe?.httpGet, { path: '/admin/host/ping', port: 'http' });
    }
  });

  test('a Job pod has no probes: its deadline bounds it', () => {
    const container = pod(build(VARIANTS['scaled job']!).of('ScaledJob')[0]!).spec.containers[0]!;
    assert.equal(container.livenessProbe, undefined);
    assert.equal(container.readinessProbe, undefined);
    assert.equal(container.ports, undefined);
  });
});

describe('deploy kubernetes: option values are refused with the flag named', () => {
  test('bad values', () => {
    rejects({ name: 'Thumbs' }, '--name', /DNS label/);
    rejects({ name: 'a'.repeat(51) }, '--name', /at most 50/);
    rejects({ name: undefined }, '--name', /required/);
    rejects({ image: 'not an image' }, '--image', /image reference/);
    rejects({ namespace: 'Media_1' }, '--namespace', /DNS label/);
    rejects({ host: 'lambda' }, '--host', /worker or functions/);
    rejects({ minReplicas: '-1' }, '--min-replicas', /at least 0/);
    rejects({ maxReplicas: '0' }, '--max-replicas', /at least 1/);
    rejects({ maxReplicas: 'ten' }, '--max-replicas', /whole number/);
    rejects({ minReplicas: '5', maxReplicas: '3' }, '--min-replicas', /--max-replicas/);
    rejects({ queueLength: '2.5' }, '--queue-length', /whole number/);
    rejects({ queueLength: '65' }, '--queue-length', /at most 64/);
    rejects({ scaledJob: true, queueLength: '3' }, '--queue-length', /must be 1 with --scaled-job/);
    rejects({ scaledJob: true, host: 'functions' }, '--scaled-job', /--host functions/);
    rejects({ identity: 'msi' }, '--identity', /secret or workload/);
    rejects({ identity: 'workload', clientId: CLIENT_ID }, '--storage-account', /required/);
    rejects({ identity: 'workload', storageAccount: 'mediastore' }, '--client-id', /required/);
    rejects({ ...workload, clientId: 'abc' }, '--client-id', /GUID/);
    rejects({ ...workload, storageAccount: 'Media-Store' }, '--storage-account', /storage account/);
    rejects({ clientId: CLIENT_ID }, '--client-id', /only applies with --identity workload/);
    rejects({ queue: 'Q' }, '--queue', /3-56/);
    rejects({ thumbnailContainer: 'videos' }, '--thumbnail-container', /differ from --video-container/);
    rejects({ pollingInterval: '1' }, '--polling-interval', /at least 5/);
    rejects({ graceSeconds: '0' }, '--grace-seconds', /at least 10/);
  });

  test('accepted references and defaults', () => {
    for (const image of [
      'video-thumbnailer',
      'localhost:5000/video-thumbnailer:dev',
      'ghcr.io/org/video-thumbnailer@sha256:' + 'a'.repeat(64),
      'myacr.azurecr.io/media/video-thumbnailer:1.2.3-rc.1',
    ]) {
      assert.doesNotThrow(() => parseDeployOptions({ ...base, image }), image);
    }
    const o = parseDeployOptions({ ...base });
    assert.equal(o.host, 'worker');
    assert.equal(o.identity, 'secret');
    assert.equal(o.minReplicas, 0);
    assert.equal(o.maxReplicas, 10);
    assert.equal(o.queueLength, 2);
    assert.equal(o.queue, 'thumbnail-requests');
    assert.equal(parseDeployOptions({ ...base, scaledJob: true }).queueLength, 1);
  });
});

describe('deploy kubernetes: committed manifests', () => {
  test('deploy/kubernetes/ is exactly what the generator prints (node --import tsx scripts/generate-manifests.ts)', async () => {
    const expected = committedFiles();
    const actual = (await filesUnder(committedRoot)).map((f) => relative(committedRoot, f)).sort();
    assert.deepEqual(actual, [...expected.keys()].sort());
    for (const [path, content] of expected) {
      assert.equal(await readFile(join(committedRoot, path), 'utf8'), content, `deploy/kubernetes/${path}`);
    }
  });

  test('every committed document validates against its schema, and Prettier leaves the files alone', async () => {
    const config = (await prettier.resolveConfig(join(committedRoot, 'worker', 'manifests.yaml'))) ?? {};
    for (const path of (await filesUnder(committedRoot)).sort()) {
      const text = await readFile(path, 'utf8');
      assert.ok(await prettier.check(text, { ...config, filepath: path }), `prettier: ${path}`);
      assert.doesNotMatch(text, /keda\.k8s\.io|AccountKey|SharedAccessSignature/);
      if (!path.endsWith('manifests.yaml')) continue;
      for (const json of parseYaml(text) as { kind: keyof typeof MODELS }[]) {
        const Model = MODELS[json.kind];
        assert.ok(Model, `${path}: unexpected kind ${json.kind}`);
        assert.doesNotThrow(() =>
          new (Model as new (data: unknown) => { validate(): void })(json).validate(),
        );
      }
    }
  });

  for (const variant of COMMITTED_VARIANTS) {
    test(`\`${variant.command}\` prints deploy/kubernetes/${variant.dir}/manifests.yaml`, async () => {
      const args = variant.command.split(' ').slice(1);
      const printed = await runCommand(args);
      const committed = await readFile(join(committedRoot, variant.dir, 'manifests.yaml'), 'utf8');
      assert.deepEqual(parseYaml(printed), parseYaml(committed));
      assert.match(printed, /^# thumbnailer deploy kubernetes: /);
    });
  }
});

describe('deploy kubernetes: kustomize overlays (kubectl kustomize, no cluster needed)', () => {
  const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status === 0;

  test(
    'an overlay sets the namespace and the image in every variant, ScaledJob included',
    { skip: !kubectl && 'kubectl is not installed' },
    async () => {
      const overlay = await mkdtemp(join(tmpdir(), 'thumbnailer-kustomize-'));
      try {
        for (const variant of COMMITTED_VARIANTS) {
          await writeFile(
            join(overlay, 'kustomization.yaml'),
            [
              'apiVersion: kustomize.config.k8s.io/v1beta1',
              'kind: Kustomization',
              'namespace: media',
              'resources:',
              `  - ${relative(overlay, join(committedRoot, variant.dir))}`,
              'images:',
              '  - name: video-thumbnailer',
              '    newName: myacr.azurecr.io/video-thumbnailer',
              '    newTag: 1.2.3',
              '',
            ].join('\n'),
          );
          const { stdout } = await run('kubectl', ['kustomize', overlay]);
          const documents = parseYaml(stdout) as {
            kind: keyof typeof MODELS;
            metadata: { namespace?: string };
          }[];
          assert.equal(
            documents.length,
            parseYaml(committedFiles().get(`${variant.dir}/manifests.yaml`)!).length,
          );
          for (const json of documents) {
            assert.equal(json.metadata.namespace, 'media', `${variant.dir} ${json.kind}`);
            const model = new (MODELS[json.kind] as new (data: unknown) => KubernetesDocument)(json);
            model.validate();
            if (model.kind === 'Deployment' || model.kind === 'ScaledJob') {
              assert.equal(
                pod(model).spec.containers[0]!.image,
                'myacr.azurecr.io/video-thumbnailer:1.2.3',
                variant.dir,
              );
            }
          }
        }
      } finally {
        await rm(overlay, { recursive: true, force: true });
      }
    },
  );
});
