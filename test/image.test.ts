import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { ROOT } from './support/worker.js';

/**
 * The container images and their pipeline, checked as text: the workflow against the published
 * GitHub workflow schema (@action-validator/cli carries it), and the Dockerfile, .dockerignore,
 * compose.yaml and scripts against each other. CI builds the worker image itself and checks it from
 * inside with scripts/image-local.sh.
 */

const run = promisify(execFile);
const read = (path: string) => readFile(join(ROOT, path), 'utf8');
const WORKFLOW = '.github/workflows/image.yml';

let scratch: string;
before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'thumbnailer-image-test-'));
});
after(async () => {
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/** Runs the action-validator CLI; resolves with its exit code and output. */
async function validate(path: string): Promise<{ code: number; output: string }> {
  const cli = join(
    createRequire(import.meta.url).resolve('@action-validator/cli/package.json'),
    '..',
    'cli.mjs',
  );
  try {
    const { stdout, stderr } = await run(process.execPath, [cli, path]);
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, output: (e.stdout ?? '') + (e.stderr ?? '') };
  }
}

interface Step {
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
}
interface Workflow {
  on: Record<string, unknown>;
  permissions: Record<string, string>;
  jobs: Record<
    string,
    { steps: Step[]; needs?: string; strategy?: { matrix: { include: Record<string, string>[] } } }
  >;
}

describe('the image workflow', () => {
  test('is valid against the published GitHub workflow schema', async () => {
    const result = await validate(join(ROOT, WORKFLOW));
    assert.equal(result.code, 0, result.output);
  });

  test('the validator does catch a broken workflow (negative control)', async () => {
    const broken = (await read(WORKFLOW)).replace(/^(\s+)steps:/m, '$1stepz:');
    const path = join(scratch, 'image.yml');
    await writeFile(path, broken);
    const result = await validate(path);
    assert.notEqual(result.code, 0);
    assert.match(result.output, /stepz/);
  });

  test('builds both images for amd64 and arm64 where the base allows, with SBOM and provenance', async () => {
    const wf = parse(await read(WORKFLOW)) as Workflow;
    assert.deepEqual(wf.permissions, { contents: 'read' });
    assert.ok(wf.on.push && wf.on.pull_request && 'workflow_dispatch' in wf.on);
    const image = wf.jobs.image!;
    const matrix = image.strategy!.matrix.include;
    const byTarget = Object.fromEntries(matrix.map((m) => [m.target, m]));
    assert.equal(byTarget.functions?.platforms, 'linux/amd64');
    assert.equal(byTarget.worker?.platforms, 'linux/amd64,linux/arm64');

    const step = (prefix: string) => image.steps.find((s) => s.uses?.startsWith(prefix));
    const build = step('docker/build-push-action@')!;
    assert.equal(build.with?.sbom, true);
    assert.equal(build.with?.provenance, 'mode=max');
    assert.equal(build.with?.target, '${{ matrix.target }}');
    assert.equal(build.with?.platforms, '${{ matrix.platforms }}');
    assert.match(String(build.with?.push), /pull_request/);
    const meta = step('docker/metadata-action@')!;
    assert.match(String(meta.with?.tags), /type=ref,event=branch/);
    assert.match(String(meta.with?.tags), /type=semver,pattern=\{\{version\}\}/);
    assert.match(String(meta.with?.labels), /org\.opencontainers\.image\.title/);
    assert.ok(step('docker/setup-buildx-action@'));
    assert.ok(step('docker/setup-qemu-action@'));
    const login = step('docker/login-action@')!;
    assert.equal(login.with?.username, '${{ secrets.REGISTRY_USERNAME }}');
    assert.equal(login.with?.password, '${{ secrets.REGISTRY_PASSWORD }}');
    assert.match(await read(WORKFLOW), /secrets\.REGISTRY_LOGIN_SERVER/);
  });

  test('pins every action to an exact version or a commit SHA', async () => {
    const wf = parse(await read(WORKFLOW)) as Workflow;
    const uses = Object.values(wf.jobs).flatMap((j) =>
      j.steps.map((s) => s.uses).filter((u): u is string => !!u),
    );
    assert.ok(uses.length >= 6);
    for (const u of uses) assert.match(u, /@(v\d+\.\d+\.\d+|[0-9a-f]{40})$/, u);
  });
});

interface Stage {
  name: string;
  /** The FROM line's image as written (`${NODE_IMAGE}`, say). */
  from: string;
  /** The image it builds on: build arguments at their defaults, stage names followed to an image. */
  base: string;
  lines: string[];
}

/**
 * The Dockerfile as stages (continuations joined), with the build arguments declared before the
 * first FROM; `args` overrides their defaults as `--build-arg` does.
 */
function stagesOf(
  dockerfile: string,
  args: Record<string, string> = {},
): { globals: string[]; stages: Stage[] } {
  const lines = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const globals: string[] = [];
  const defaults: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const line of lines) {
    const from = /^FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(line);
    const arg = /^ARG\s+(\w+)(?:=(\S+))?$/.exec(line);
    if (from) {
      const written = from[1]!;
      const named = written.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a?: string, b?: string) => {
        const key = (a ?? b)!;
        return args[key] ?? defaults[key] ?? '';
      });
      const base = stages.find((s) => s.name === named)?.base ?? named;
      stages.push({ from: written, base, name: from[2] ?? '', lines: [] });
    } else if (arg && stages.length === 0) {
      globals.push(arg[1]!);
      if (arg[2] !== undefined) defaults[arg[1]!] = arg[2];
    } else stages.at(-1)?.lines.push(line);
  }
  return { globals, stages };
}

describe('the Dockerfile', () => {
  test('pins its base images to exact versions, written out in FROM lines', async () => {
    const text = await read('Dockerfile');
    const { stages } = stagesOf(text);
    assert.deepEqual(
      stages.map((s) => s.name),
      ['node-image', 'build', 'worker', 'functions-image', 'functions'],
    );
    const stage = (name: string) => stages.find((s) => s.name === name)!;
    assert.match(stage('build').base, /^node:22\.\d+\.\d+-bookworm-slim(@sha256:[0-9a-f]{64})?$/);
    assert.equal(
      stage('worker').base,
      stage('build').base,
      'the worker runs on the Node.js image the app was built with',
    );
    assert.match(
      stage('functions').base,
      /^mcr\.microsoft\.com\/azure-functions\/node:4\.\d+(\.\d+)*-4-node22(@sha256:[0-9a-f]{64})?$/,
    );
    // Dependabot and scanners read the pins in the alias stages' own FROM lines.
    assert.equal(stage('node-image').from, stage('build').base);
    assert.equal(stage('functions-image').from, stage('functions').base);
    // `az acr build` runs the classic builder: no BuildKit-only syntax.
    assert.doesNotMatch(text, /--mount=|\$BUILDPLATFORM|^# syntax=/m);
    assert.doesNotMatch(text, /:latest\b/);
  });

  test('takes its bases as build arguments, and nothing else forks for another base', async () => {
    const text = await read('Dockerfile');
    const { globals, stages } = stagesOf(text);
    assert.deepEqual(globals, ['NODE_IMAGE', 'FUNCTIONS_IMAGE']);
    const stage = (list: Stage[], name: string) => list.find((s) => s.name === name)!;
    assert.equal(stage(stages, 'build').from, '${NODE_IMAGE}');
    assert.equal(stage(stages, 'worker').from, '${NODE_IMAGE}');
    assert.equal(stage(stages, 'functions').from, '${FUNCTIONS_IMAGE}');
    // The alias stages only name an image: an overridden base is all a builder needs.
    assert.deepEqual(stage(stages, 'node-image').lines, []);
    assert.deepEqual(stage(stages, 'functions-image').lines, []);
    // The classic builder runs every stage before its target: the Functions base comes after the worker.
    assert.ok(
      stages.indexOf(stage(stages, 'functions-image')) > stages.indexOf(stage(stages, 'worker')),
      'building --target worker never pulls the Functions base',
    );
    const offline = stagesOf(text, { NODE_IMAGE: 'localhost/base:1' }).stages;
    assert.equal(stage(offline, 'build').base, 'localhost/base:1');
    assert.equal(stage(offline, 'worker').base, 'localhost/base:1');
    assert.deepEqual(
      offline.map((s) => s.lines),
      stages.map((s) => s.lines),
      'the same instructions on either base',
    );
    // scripts/image-local.sh builds exactly that: the worker target on its own base, the
    // Dockerfile's Node.js version, and CI runs it after the tests.
    const local = await read('scripts/image-local.sh');
    assert.match(
      local,
      /buildah bud --isolation chroot .*\n?.*--target worker --build-arg NODE_IMAGE="\$BASE"/,
    );
    assert.match(local, /AS node-image\$/m, 'the base follows the node-image pin');
    const ci = await read('.ci/run');
    assert.ok(
      ci.indexOf('bash scripts/image-local.sh') > ci.indexOf('npm test'),
      '.ci/run builds the image after the tests',
    );
  });

  test('runs every install and build step through the scripts', async () => {
    const { stages } = stagesOf(await read('Dockerfile'));
    for (const stage of stages) {
      for (const line of stage.lines.filter((l) => l.startsWith('RUN'))) {
        assert.doesNotMatch(line, /\b(npm|npx|apt-get|tsc)\b/, `${stage.name}: ${line}`);
      }
    }
    const build = stages.find((s) => s.name === 'build')!.lines.join('\n');
    for (const step of ['deps', 'app', 'check'])
      assert.match(build, new RegExp(`scripts/image-build\\.sh ${step}`));
    for (const name of ['worker', 'functions']) {
      const stage = stages.find((s) => s.name === name)!.lines.join('\n');
      assert.match(
        stage,
        /bash \/tmp\/install-system-deps\.sh/,
        `${name} installs ffmpeg with the CI script`,
      );
      assert.match(stage, /^USER 1000:1000$/m, `${name} runs as uid 1000`);
      assert.match(stage, /useradd --uid 1000 --gid 1000 .*thumbnailer/, `${name} has the thumbnailer user`);
      assert.match(stage, /THUMBNAILER_NO_NPM_FFMPEG=1/);
      assert.match(stage, /^HEALTHCHECK /m);
      assert.match(stage, /^WORKDIR \/home\/site\/wwwroot$/m);
    }
    const functions = stages.at(-1)!;
    assert.equal(functions.name, 'functions', 'the Functions image is the default target');
    const env = functions.lines.join('\n');
    assert.match(env, /ASPNETCORE_URLS=http:\/\/\+:8080/);
    assert.match(env, /^EXPOSE 8080$/m);
    assert.match(env, /AzureWebJobsScriptRoot=\/home\/site\/wwwroot/);
    assert.match(env, /AzureFunctionsJobHost__Logging__Console__IsEnabled=true/);
    assert.match(env, /THUMBNAIL_QUEUE=thumbnail-requests/);
    assert.match(await read('scripts/image-build.sh'), /npm prune --omit=dev --omit=optional/);
  });

  test('the build context and the .dockerignore allow-list agree', async () => {
    const copied = new Set<string>();
    for (const stage of stagesOf(await read('Dockerfile')).stages) {
      for (const line of stage.lines) {
        const m = /^COPY\s+(?!--from)(.+)\s+\S+$/.exec(line);
        if (m) for (const src of m[1]!.trim().split(/\s+/)) copied.add(src.replace(/\/$/, ''));
      }
    }
    const allowed = new Set(
      (await read('.dockerignore'))
        .split('\n')
        .filter((l) => l.startsWith('!'))
        .map((l) => l.slice(1).trim()),
    );
    assert.match(await read('.dockerignore'), /^\*$/m, '.dockerignore starts from nothing');
    assert.deepEqual([...copied].sort(), [...allowed].sort());
  });

  test('its scripts are valid shell', async () => {
    for (const script of [
      'scripts/image-build.sh',
      'scripts/image-local.sh',
      'scripts/install-system-deps.sh',
    ]) {
      await run('bash', ['-n', join(ROOT, script)]);
    }
  });
});

describe('compose.yaml', () => {
  interface Service {
    image?: string;
    build?: { context: string; target?: string };
    user?: string;
    read_only?: boolean;
    cap_drop?: string[];
    ports?: string[];
    command?: string[];
    environment?: Record<string, string>;
    tmpfs?: string[];
  }

  test('runs Azurite (pinned, as the tests run it), the worker and the HTTP API, hardened', async () => {
    const compose = parse(await read('compose.yaml'), { merge: true }) as {
      services: Record<string, Service>;
    };
    const { azurite, worker, api, functions } = compose.services;
    const azuriteVersion = (
      JSON.parse(await read('node_modules/azurite/package.json')) as { version: string }
    ).version;
    assert.equal(azurite?.image, `mcr.microsoft.com/azure-storage/azurite:${azuriteVersion}`);
    assert.equal(worker?.build?.target, 'worker');
    assert.equal(api?.build?.target, 'worker');
    assert.deepEqual(
      api?.command,
      ['start'],
      'the HTTP API is `thumbnailer start` against the Azurite container',
    );
    assert.ok(api?.ports?.includes('127.0.0.1:7071:7071'));
    assert.equal(functions?.build?.target, undefined, 'the Functions image is the default target');
    for (const [name, s] of Object.entries(compose.services)) {
      for (const port of s.ports ?? []) assert.match(port, /^127\.0\.0\.1:/, `${name} binds loopback only`);
    }
    for (const s of [worker!, api!, functions!]) {
      assert.equal(s.user, '1000:1000');
      assert.equal(s.read_only, true);
      assert.deepEqual(s.cap_drop, ['ALL']);
      assert.ok(s.tmpfs?.some((t) => t.startsWith('/tmp')));
      assert.match(
        s.environment?.AzureWebJobsStorage ?? '',
        /BlobEndpoint=http:\/\/azurite:10000\/devstoreaccount1/,
      );
      assert.equal(s.environment?.THUMBNAIL_QUEUE, 'thumbnail-requests');
    }
  });
});
