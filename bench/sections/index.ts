import type { Section } from '../lib/types.js';
import { fullSection } from './full.js';
import { memorySection } from './memory.js';
import { stripSection } from './strip.js';

/** Every section, in running order. A new one (say, reading from Blob storage) goes here. */
export const SECTIONS: Section[] = [stripSection, fullSection, memorySection];
