// A worker thread does not inherit `--import tsx`: it registers tsx itself, then loads the loop.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
