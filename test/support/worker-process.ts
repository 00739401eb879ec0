// A `thumbnailer worker` process for crash and shutdown tests: the real command, outside main.ts.
import { Command } from 'commander';
import { register } from '../../src/hosts/cli/commands/worker.js';

const program = new Command('thumbnailer').exitOverride();
register(program);
await program.parseAsync(process.argv);
