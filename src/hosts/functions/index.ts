import { app } from '@azure/functions';
import { submitJobHandler } from './http.js';
import { cancelInFlight, processQueueMessage } from './queue.js';
import { getRuntime } from './runtime.js';

/**
 * The Azure Functions app (Node.js v4 programming model): the file package.json "main" names, which
 * the Functions host loads. A thin host over the shared job handler of src/jobs/handler.ts;
 * host.json holds the delivery settings (see docs/azure.md for the reason behind each value).
 */

// The request queue's name is an app setting (THUMBNAIL_QUEUE); the host resolves %...% itself,
// so the setting must exist in the app's configuration (the image sets the product's default).
app.storageQueue('thumbnail', {
  queueName: '%THUMBNAIL_QUEUE%',
  connection: 'AzureWebJobsStorage',
  handler: processQueueMessage,
});

app.http('jobs', {
  route: 'jobs',
  methods: ['POST'],
  authLevel: 'function',
  handler: submitJobHandler,
});

app.hook.appStart(async () => {
  // Settings and ffmpeg are checked once at start-up, so a misconfiguration shows as one clear
  // log line rather than as failures in the middle of jobs.
  try {
    const rt = await getRuntime();
    try {
      const { resolveBinaries } = await import('../../engine/binaries.js');
      const binaries = resolveBinaries();
      rt.logger.info(
        { ffmpeg: binaries.ffmpeg, source: binaries.source, queue: rt.settings.queueName },
        'functions app started',
      );
    } catch (error) {
      rt.logger.error({ err: error }, error instanceof Error ? error.message : String(error));
    }
  } catch (error) {
    console.error(
      `thumbnailer: the function app cannot start: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
});

app.hook.appTerminate(() => {
  cancelInFlight();
});
