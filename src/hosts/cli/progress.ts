import cliProgress from 'cli-progress';

export interface ProgressBar {
  update(fraction: number, phase: string): void;
  stop(): void;
}

/** A progress bar on a terminal; nothing when stderr is not one (CI logs, pipes). */
export function progressBar(label: string): ProgressBar | undefined {
  if (!process.stderr.isTTY) return undefined;
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} [{bar}] {percentage}% {phase}`,
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: true,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(100, 0, { phase: '' });
  let stopped = false;
  return {
    update: (fraction, phase) => !stopped && bar.update(Math.round(fraction * 100), { phase }),
    stop: () => {
      if (!stopped) bar.stop();
      stopped = true;
    },
  };
}
