import type { Section } from '../lib/types.js';
import { footageSection } from './footage.js';
import { framesSection } from './frames.js';
import { fullSection } from './full.js';
import { memorySection, onekeyMemorySection } from './memory.js';
import { rareSection } from './rare.js';
import { storageSection } from './storage.js';
import { stripSection } from './strip.js';
import { tracksSection } from './tracks.js';

/** Every section, in running order. A new one goes here. */
export const SECTIONS: Section[] = [
  stripSection,
  fullSection,
  tracksSection,
  footageSection,
  rareSection,
  memorySection,
  onekeyMemorySection,
  storageSection,
  framesSection,
];
