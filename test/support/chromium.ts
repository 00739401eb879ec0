/**
 * Debian's Chromium as the browser tests and the README screenshot drive it (playwright-core).
 * The flags keep it headless, unsandboxed for root, and off the network it cannot reach here.
 */
export const CHROMIUM_PATH = process.env.THUMBNAILER_CHROMIUM ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
