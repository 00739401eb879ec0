#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { register as registerDeploy } from './commands/deploy.js';
import { register as registerDoctor } from './commands/doctor.js';
import { register as registerGenerate } from './commands/generate.js';
import { register as registerStart } from './commands/start.js';
import { register as registerSubmit } from './commands/submit.js';
import { register as registerWorker } from './commands/worker.js';
import { flagForField } from './options.js';

/**
 * `thumbnailer`: flags to options, then the engine or the adapters. Commands load their heavy
 * modules only when they run, so `--help` and short commands start fast.
 */
const program = new Command('thumbnailer')
  .description(
    'Video thumbnails from Azure Storage queues: strips, posters, storyboards with WebVTT, manifests',
  )
  .version(process.env.npm_package_version ?? '0.1.0')
  .exitOverride();

registerGenerate(program);
registerStart(program);
registerWorker(program);
registerSubmit(program);
registerDoctor(program);
registerDeploy(program);

function fail(code: string, message: string, exitCode = 1): never {
  process.stderr.write(`thumbnailer: ${code}: ${message}\n`);
  process.exit(exitCode);
}

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    if (error.exitCode === 0) process.exit(0);
    process.exit(error.exitCode || 2);
  }
  const { ThumbnailerError } = await import('../../errors.js');
  if (ThumbnailerError.is(error)) {
    // The option at fault comes as data (error.field): named as the flag a CLI user typed.
    const message = error.field ? `${flagForField(error.field)}: ${error.message}` : error.message;
    fail(error.code, message, error.code === 'E_OPTION_INVALID' ? 2 : 1);
  }
  if (process.env.THUMBNAILER_DEBUG) console.error(error);
  fail('E_INTERNAL', error instanceof Error ? error.message : String(error));
}
