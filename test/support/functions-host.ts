import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import Module, { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { ROOT } from './worker.js';

/**
 * Plays the Azure Functions host's Node.js worker for the function app, so a test exercises the
 * app exactly as the host loads and invokes it:
 * - the app is compiled with tsc into a script root laid out like the image's
 *   (`package.json`, `host.json`, `dist/`, `node_modules`), and the file package.json "main" names
 *   is imported from there;
 * - `@azure/functions-core`, the module the real worker injects, is provided by intercepting the
 *   CommonJS loader for that one id; it records the registered functions, hooks and programming
 *   model;
 * - an invocation goes through the library's own programming model with RPC-shaped input, so
 *   conversions (JSON parsing of the trigger, trigger metadata, HTTP requests and responses) are
 *   the library's, not the test's.
 */

const run = promisify(execFile);

/** The RPC shape of one value, as the host sends it (a subset of RpcTypedData). */
export type RpcTypedData =
  | { string: string }
  | { json: string }
  | { bytes: Uint8Array }
  | { int: number | string }
  | { http: Record<string, unknown> };

export interface RpcBindingInfo {
  type: string;
  direction: 'in' | 'out';
  [key: string]: unknown;
}

export interface RegisteredFunction {
  metadata: { name: string; bindings: Record<string, RpcBindingInfo>; [key: string]: unknown };
  callback: (...args: unknown[]) => unknown;
}

interface CoreInvocationModel {
  getArguments(): Promise<{ context: unknown; inputs: unknown[] }>;
  invokeFunction(
    context: unknown,
    inputs: unknown[],
    callback: (...args: unknown[]) => unknown,
  ): Promise<unknown>;
  getResponse(context: unknown, result: unknown): Promise<{ returnValue?: unknown; outputData?: unknown[] }>;
}

interface CoreProgrammingModel {
  name: string;
  version: string;
  getInvocationModel(coreContext: unknown): CoreInvocationModel;
}

export interface LogLine {
  level: string;
  category: string;
  message: string;
}

export interface InvokeResult {
  /** What the function returned, converted for the host (an RPC typed value). */
  returnValue?: unknown;
  logs: LogLine[];
}

class Disposable {
  #dispose?: () => unknown;
  constructor(dispose: () => unknown) {
    this.#dispose = dispose;
  }
  static from(...items: { dispose: () => unknown }[]): Disposable {
    return new Disposable(() => items.forEach((i) => i.dispose()));
  }
  dispose(): void {
    this.#dispose?.();
    this.#dispose = undefined;
  }
}

export class FakeFunctionsHost {
  readonly functions = new Map<string, RegisteredFunction>();
  readonly hooks = new Map<string, ((context: unknown) => unknown)[]>();
  readonly systemLogs: LogLine[] = [];
  programmingModel?: CoreProgrammingModel;

  /** The module object the real worker provides as `@azure/functions-core`. */
  readonly core = {
    Disposable,
    setProgrammingModel: (model: CoreProgrammingModel) => {
      this.programmingModel = model;
    },
    getProgrammingModel: () => this.programmingModel,
    registerFunction: (
      metadata: RegisteredFunction['metadata'],
      callback: RegisteredFunction['callback'],
    ) => {
      if (this.functions.has(metadata.name)) throw new Error(`function ${metadata.name} registered twice`);
      this.functions.set(metadata.name, { metadata, callback });
      return new Disposable(() => this.functions.delete(metadata.name));
    },
    registerHook: (name: string, callback: (context: unknown) => unknown) => {
      const list = this.hooks.get(name) ?? [];
      list.push(callback);
      this.hooks.set(name, list);
      return new Disposable(() => list.splice(list.indexOf(callback), 1));
    },
    log: (level: string, category: string, message: string) => {
      this.systemLogs.push({ level, category, message });
    },
  };

  private restoreLoader?: () => void;

  /** Makes `require('@azure/functions-core')` answer with this host's module, as the worker does. */
  install(): void {
    const M = Module as unknown as { _load: (request: string, ...rest: unknown[]) => unknown };
    const original = M._load;
    const core = this.core;
    M._load = function (request: string, ...rest: unknown[]) {
      if (request === '@azure/functions-core') return core;
      return original.call(this, request, ...rest);
    };
    this.restoreLoader = () => {
      M._load = original;
    };
  }

  uninstall(): void {
    this.restoreLoader?.();
  }

  /** Imports the file `<root>/package.json` "main" names, the way the worker loads an ESM app. */
  async loadApp(root: string): Promise<void> {
    const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { main: string };
    await import(pathToFileURL(resolve(root, pkg.main)).href);
    if (!this.programmingModel) throw new Error('the app never set a programming model');
  }

  async runHooks(name: 'appStart' | 'appTerminate', root: string): Promise<void> {
    for (const hook of this.hooks.get(name) ?? []) {
      await hook({ hookData: {}, appHookData: {}, functionAppDirectory: root });
    }
  }

  get(name: string): RegisteredFunction {
    const f = this.functions.get(name);
    if (!f) throw new Error(`no function ${name}; registered: ${[...this.functions.keys()].join(', ')}`);
    return f;
  }

  /** The trigger binding of a registered function (name and settings). */
  trigger(name: string): RpcBindingInfo & { name: string } {
    const entry = Object.entries(this.get(name).metadata.bindings).find(([, b]) => /trigger$/i.test(b.type));
    if (!entry) throw new Error(`function ${name} has no trigger binding`);
    return { ...entry[1], name: entry[0] };
  }

  /**
   * One invocation as the worker runs it: invocation model from the programming model, arguments,
   * the callback, then the response. Rejects when the function throws, as the host sees a failure.
   */
  async invoke(
    name: string,
    trigger: RpcTypedData,
    triggerMetadata: Record<string, RpcTypedData> = {},
  ): Promise<InvokeResult> {
    const fn = this.get(name);
    const logs: LogLine[] = [];
    const invocationId = randomUUID();
    const coreContext = {
      invocationId,
      request: {
        invocationId,
        functionId: name,
        inputData: [{ name: this.trigger(name).name, data: trigger }],
        triggerMetadata,
      },
      metadata: fn.metadata,
      state: undefined as string | undefined,
      log: (level: string, category: string, message: string) => logs.push({ level, category, message }),
    };
    const model = this.programmingModel!.getInvocationModel(coreContext);
    const { context, inputs } = await model.getArguments();
    coreContext.state = 'invocation';
    const result = await model.invokeFunction(context, inputs, fn.callback);
    coreContext.state = undefined;
    const response = await model.getResponse(context, result);
    return { returnValue: response.returnValue, logs };
  }
}

/** An HTTP response as the host receives it, decoded. */
export function httpResponseOf(returnValue: unknown): {
  status: number;
  headers: Record<string, string>;
  body: unknown;
} {
  const http = (
    returnValue as { http?: { statusCode?: string; headers?: Record<string, string>; body?: unknown } }
  )?.http;
  if (!http) throw new Error(`not an HTTP response: ${JSON.stringify(returnValue)}`);
  const body = http.body as { bytes?: Uint8Array; string?: string } | undefined;
  const text = body?.bytes ? Buffer.from(body.bytes).toString('utf8') : (body?.string ?? '');
  return {
    status: Number(http.statusCode),
    headers: http.headers ?? {},
    body: text ? (JSON.parse(text) as unknown) : undefined,
  };
}

/**
 * Builds the function app into a fresh script root laid out like the image's
 * (`/home/site/wwwroot`): package.json and host.json copied, the app compiled with tsc from the
 * current sources (only the modules the entry reaches), node_modules linked. Independent of
 * `dist/` in the working tree, so the test sees source edits and never races another test reading
 * `dist/`.
 */
export async function buildScriptRoot(): Promise<{ root: string; remove: () => Promise<void> }> {
  const root = await mkdtemp(join(tmpdir(), 'thumbnailer-functions-'));
  try {
    await copyFile(join(ROOT, 'package.json'), join(root, 'package.json'));
    await copyFile(join(ROOT, 'host.json'), join(root, 'host.json'));
    await symlink(join(ROOT, 'node_modules'), join(root, 'node_modules'), 'dir');
    await mkdir(join(root, 'dist'));
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { main: string };
    // "main" names dist/<path>.js; its source is src/<path>.ts.
    const entry = join(ROOT, pkg.main.replace(/^(\.\/)?dist\//, 'src/').replace(/\.js$/, '.ts'));
    await writeFile(
      join(root, 'tsconfig.json'),
      JSON.stringify({
        extends: join(ROOT, 'tsconfig.build.json'),
        compilerOptions: { rootDir: join(ROOT, 'src'), outDir: join(root, 'dist'), sourceMap: false },
        files: [entry],
        include: [],
      }),
    );
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
    try {
      await run(process.execPath, [tsc, '-p', join(root, 'tsconfig.json')], {
        cwd: root,
        maxBuffer: 16 * 1024 * 1024,
      });
    } catch (error) {
      const e = error as { stdout?: string; stderr?: string };
      throw new Error(`tsc failed for the function app:\n${e.stdout ?? ''}${e.stderr ?? ''}`, {
        cause: error,
      });
    }
    return { root, remove: () => rm(root, { recursive: true, force: true }) };
  } catch (error) {
    await rm(root, { recursive: true, force: true });
    throw error;
  }
}
