import { ThumbnailerError } from '../errors.js';
import type { KubernetesDocument } from './manifests.js';

/**
 * Applies the documents with the user's kubeconfig, like `func kubernetes deploy`: server-side
 * apply (create or update, field manager `thumbnailer`), one document at a time, in order.
 *
 * `@kubernetes/client-node` is an optional dependency, loaded only here. There is no cluster in
 * this project's test environment: this path is exercised by hand only (docs/kubernetes.md).
 */

/** The few members of `@kubernetes/client-node` (1.x/2.x) used here. */
interface ClientModule {
  KubeConfig: new () => {
    loadFromDefault(): void;
    getCurrentContext(): string;
    getContextObject(name: string): { namespace?: string } | null;
  };
  KubernetesObjectApi: {
    makeApiClient(config: unknown): {
      patch(
        spec: object,
        pretty?: string,
        dryRun?: string,
        fieldManager?: string,
        force?: boolean,
        patchStrategy?: string,
      ): Promise<unknown>;
    };
  };
  PatchStrategy: { ServerSideApply: string };
}

export interface ApplyOptions {
  /** Namespace for documents that name none; default: the kubeconfig context's, else `default`. */
  namespace?: string;
  /** Called once per document applied, e.g. to print `applied Deployment/thumbnailer`. */
  onApplied?: (kind: string, name: string, namespace: string) => void;
}

async function loadClient(): Promise<ClientModule> {
  // A variable specifier: the package is optional, and only this path needs it.
  const specifier = '@kubernetes/client-node';
  try {
    return (await import(specifier)) as ClientModule;
  } catch (error) {
    throw new ThumbnailerError(
      'E_OPTION_INVALID',
      'Applying needs the optional package @kubernetes/client-node (npm install @kubernetes/client-node); ' +
        'or print the manifests with --dry-run and pipe them to `kubectl apply -f -`',
      { cause: error },
    );
  }
}

function describeFailure(error: unknown): string {
  const e = error as { code?: unknown; body?: unknown; message?: unknown };
  let detail = typeof e.message === 'string' ? e.message : String(error);
  const body = typeof e.body === 'string' ? safeJson(e.body) : e.body;
  if (body && typeof body === 'object' && typeof (body as { message?: unknown }).message === 'string') {
    detail = (body as { message: string }).message;
  }
  return typeof e.code === 'number' ? `HTTP ${e.code}: ${detail}` : detail;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export async function applyManifests(
  documents: readonly KubernetesDocument[],
  options: ApplyOptions = {},
): Promise<void> {
  const k8s = await loadClient();
  const config = new k8s.KubeConfig();
  config.loadFromDefault();
  const context = config.getCurrentContext();
  if (!context) {
    throw new ThumbnailerError(
      'E_OPTION_INVALID',
      'No Kubernetes context: set KUBECONFIG or run `az aks get-credentials`, or use --dry-run',
    );
  }
  const namespace = options.namespace ?? config.getContextObject(context)?.namespace ?? 'default';
  const client = k8s.KubernetesObjectApi.makeApiClient(config);

  for (const document of documents) {
    const spec = document.toJSON() as { kind: string; apiVersion: string; metadata: { name: string } };
    const target = { ...spec, metadata: { ...spec.metadata, namespace } };
    try {
      await client.patch(
        target,
        undefined,
        undefined,
        'thumbnailer',
        true,
        k8s.PatchStrategy.ServerSideApply,
      );
    } catch (error) {
      const what = `${spec.kind}/${spec.metadata.name}`;
      const detail = describeFailure(error);
      const kedaMissing =
        spec.apiVersion.startsWith('keda.sh/') && /unrecognized api version|not found|404/i.test(detail);
      throw new ThumbnailerError(
        'E_DEPLOY_FAILED',
        kedaMissing
          ? `Cannot apply ${what}: KEDA (keda.sh/v1alpha1) is not installed in context ${context}; install it first (docs/kubernetes.md)`
          : `Cannot apply ${what} in namespace ${namespace} (context ${context}): ${detail}`,
        { cause: error },
      );
    }
    options.onApplied?.(spec.kind, spec.metadata.name, namespace);
  }
}
