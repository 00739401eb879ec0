import type { Command } from 'commander';

/**
 * `thumbnailer deploy azure`: an ARM template for Azure Container Apps, identity only. Nothing is
 * applied from here: `--dry-run` prints the template, otherwise the commands that deploy it.
 */
function registerAzure(deploy: Command): void {
  deploy
    .command('azure')
    .description(
      'ARM template for Azure Container Apps: an event-driven job per queued video (azure-queue rule), ' +
        'storage with data-plane roles, Event Grid from the videos container to the queue, logs; identity only',
    )
    .requiredOption(
      '--name <name>',
      'prefix of every resource name (2-24 lowercase letters, digits, hyphens)',
    )
    .requiredOption(
      '--image <image>',
      'container image, e.g. myacr.azurecr.io/video-thumbnailer-worker:1.0.0',
    )
    .option('--location <region>', 'Azure region (default: the resource group’s)')
    .option('--api', 'also the HTTP API and dashboard as a Container App with ingress and a token')
    .option('--max-executions <n>', 'most job executions at once (default 10)')
    .option('--polling-interval <seconds>', 'how often the queue length is read (default 15)')
    .option('--job-timeout <seconds>', 'longest one job may run; bounds the replica timeout (default 3600)')
    .option('--grace-seconds <seconds>', 'drain budget on SIGTERM (default 120)')
    .option('--cpu <vcpu>', 'vCPU per execution, memory twice as many GiB: 0.5, 1, 1.5, 2, 3, 4 (default 2)')
    .option(
      '--registry-resource-group <name>',
      'resource group of the Azure Container Registry (default: the deployment’s)',
    )
    .option('--queue <name>', 'request queue (default thumbnail-requests)')
    .option('--events-queue <name>', 'completion events queue (default thumbnail-events)')
    .option('--video-container <name>', 'source container (default videos)')
    .option('--thumbnail-container <name>', 'output container (default thumbnails)')
    .option('--dry-run', 'print the template instead of the commands that deploy it')
    .action(async (flags: Record<string, unknown>) => {
      const [{ parseAzureDeployOptions }, { azureCommandLine, buildAzureTemplate, toJson }] =
        await Promise.all([import('../../../deploy/azure-options.js'), import('../../../deploy/azure.js')]);
      const { dryRun, ...rest } = flags;
      const options = parseAzureDeployOptions({ ...rest, api: Boolean(flags.api) } as Parameters<
        typeof parseAzureDeployOptions
      >[0]);
      if (dryRun) {
        process.stdout.write(toJson(buildAzureTemplate(options)));
        return;
      }
      const file = `${options.name}.azuredeploy.json`;
      const lines = [
        `# thumbnailer deploy azure: nothing is applied from here. To deploy (Azure CLI, signed in):`,
        `${azureCommandLine(options)} > ${file}`,
        `az deployment group create --resource-group "\${RESOURCE_GROUP:?set RESOURCE_GROUP}" \\`,
        `  --name ${options.name} --template-file ${file}` +
          (options.api
            ? ` \\\n  --parameters apiToken="\${THUMBNAILER_API_TOKEN:?set THUMBNAILER_API_TOKEN}"`
            : ''),
        '# See docs/azure.md for sending a video, logs and scaling.',
      ];
      process.stdout.write(lines.join('\n') + '\n');
    });
}

/**
 * `thumbnailer deploy kubernetes`: the counterpart of `func kubernetes deploy`. Flags become
 * options (validated in src/deploy/options.ts, which names the bad flag), the generator builds
 * typed documents; `--dry-run` prints them as YAML, otherwise they are applied with the user's
 * kubeconfig. The generator and the Kubernetes client load only when the command runs.
 */
export function register(program: Command): void {
  const deploy = program.command('deploy').description('deploy the thumbnailer to a platform');
  registerAzure(deploy);
  deploy
    .command('kubernetes')
    .description(
      'Kubernetes manifests scaled from zero by KEDA on the queue length: Secret or ServiceAccount, ' +
        'Deployment and ScaledObject (or a ScaledJob), TriggerAuthentication',
    )
    .requiredOption('--name <name>', 'name of the Deployment or ScaledJob and prefix of the other objects')
    .requiredOption('--image <image>', 'container image, e.g. myacr.azurecr.io/video-thumbnailer:1.0.0')
    .option(
      '--namespace <namespace>',
      'namespace (default: none printed; the kubeconfig context when applying)',
    )
    .option(
      '--host <host>',
      'worker (thumbnailer worker, the default) or functions (the Azure Functions host)',
    )
    .option(
      '--scaled-job',
      'one Kubernetes Job per message (thumbnailer worker --once), for very long videos',
    )
    .option('--min-replicas <n>', 'replicas (or Jobs) kept when the queue is empty (default 0)')
    .option('--max-replicas <n>', 'most replicas, or parallel Jobs (default 10)')
    .option(
      '--queue-length <n>',
      'messages per replica: KEDA target and worker concurrency (default 2; 1 with --scaled-job)',
    )
    .option('--polling-interval <seconds>', 'how often KEDA reads the queue length (default 15)')
    .option('--cooldown-period <seconds>', 'quiet time before scaling back to zero (default 300)')
    .option('--grace-seconds <seconds>', 'drain budget on SIGTERM, SIGKILL 30 s later (default 120)')
    .option('--job-timeout <seconds>', 'longest one job may run; bounds a ScaledJob too (default 3600)')
    .option(
      '--temp-disk-gib <n>',
      'temporary disk one job may use (remux/transcode routes); the emptyDir holds it for every job slot (default 4)',
    )
    .option(
      '--identity <kind>',
      'secret (connection string in a Secret, the default) or workload (Azure workload identity)',
    )
    .option('--storage-account <name>', 'storage account name (required with --identity workload)')
    .option('--client-id <guid>', 'managed identity client ID (required with --identity workload)')
    .option('--tenant-id <guid>', 'Microsoft Entra tenant ID (optional with --identity workload)')
    .option('--virtual-nodes', 'schedule onto AKS virtual nodes (Azure Container Instances)')
    .option('--queue <name>', 'request queue (default thumbnail-requests)')
    .option('--video-container <name>', 'source container (default videos)')
    .option('--thumbnail-container <name>', 'output container (default thumbnails)')
    .option('--dry-run', 'print the manifests as YAML instead of applying them')
    .action(async (flags: Record<string, unknown>) => {
      const [{ parseDeployOptions }, { buildManifests, resourceNames, CONNECTION_KEY }] = await Promise.all([
        import('../../../deploy/options.js'),
        import('../../../deploy/manifests.js'),
      ]);
      const { dryRun, ...rest } = flags;
      const options = parseDeployOptions({
        ...rest,
        scaledJob: Boolean(flags.scaledJob),
        virtualNodes: Boolean(flags.virtualNodes),
      } as Parameters<typeof parseDeployOptions>[0]);
      const secretName = resourceNames(options.name).secret;

      if (dryRun) {
        const { toYaml } = await import('../../../deploy/yaml.js');
        const header = [
          `thumbnailer deploy kubernetes: ${options.scaledJob ? 'one Job per message' : options.host}, ` +
            `${options.minReplicas}..${options.maxReplicas} on queue ${options.queue} (KEDA keda.sh/v1alpha1)`,
          ...(options.identity === 'secret'
            ? [
                `Secret ${secretName} is printed without a value: set its key ${CONNECTION_KEY} (docs/kubernetes.md).`,
              ]
            : []),
        ];
        process.stdout.write(toYaml(buildManifests(options), { header }));
        return;
      }

      // Applying: the connection string comes from the environment, never from a flag or a file.
      const connectionString = options.identity === 'secret' ? process.env[CONNECTION_KEY] : undefined;
      let documents = buildManifests(options, { connectionString });
      if (options.identity === 'secret' && !connectionString) {
        documents = documents.filter((d) => d.kind !== 'Secret');
        process.stderr.write(
          `note: ${CONNECTION_KEY} is not set, so Secret ${secretName} is left as it is; ` +
            `set ${CONNECTION_KEY} and run again to create or update it\n`,
        );
      }
      const { applyManifests } = await import('../../../deploy/apply.js');
      await applyManifests(documents, {
        namespace: options.namespace,
        onApplied: (kind, name, namespace) =>
          process.stdout.write(`applied ${kind}/${name} (namespace ${namespace})\n`),
      });
    });
}
