import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('doctor')
    .description(
      'check ffmpeg and ffprobe (found, version, filters, decoders) and say how to fix what is missing',
    )
    .action(async () => {
      const { checkCapabilities } = await import('../../../engine/capabilities.js');
      const report = await checkCapabilities();
      const print = (line: string) => process.stdout.write(line + '\n');
      print(`ok   ffmpeg  ${report.binaries.ffmpeg} (${report.binaries.source}): ${report.ffmpegVersion}`);
      print(`ok   ffprobe ${report.binaries.ffprobe} (${report.binaries.source}): ${report.ffprobeVersion}`);
      if (report.binaries.source === 'npm') {
        print(
          'note using the ffmpeg bundled with npm (an old static build); install the OS package for the best results: apt-get install ffmpeg',
        );
      }
      for (const m of report.missing) {
        print(
          `FAIL ffmpeg has no ${m.kind.replace(/s$/, '')} "${m.name}" (needed for ${m.why}): install a full ffmpeg build (apt-get install ffmpeg) or point FFMPEG_PATH to one.`,
        );
      }
      if (report.missing.length === 0)
        print('ok   every filter, decoder, encoder and demuxer the engine uses is present');
      process.exitCode = report.missing.length === 0 ? 0 : 1;
    });
}
