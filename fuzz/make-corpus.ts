import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Writes the committed seed corpus of every target (fuzz/corpus/<target>/), once:
 *   node --import tsx fuzz/make-corpus.ts
 * Media seeds are cut from test/fixtures/city-cc0.mp4 by ffmpeg (half a second at 96x54, a
 * keyframe every 4 frames: a few KiB each), in every container and codec the index route reads
 * and in MPEG-TS; the others are written out below. The corpus stays well under 2 MB.
 */

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const corpus = join(root, 'fuzz', 'corpus');
const fixture = join(root, 'test', 'fixtures', 'city-cc0.mp4');

function write(target: string, seeds: Record<string, string>): void {
  const dir = join(corpus, target);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(seeds)) writeFileSync(join(dir, name), text);
}

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
const url = 'https://acct.blob.core.windows.net/videos/holiday/beach%20day.mp4';
const eventGrid = JSON.stringify([
  {
    topic: '/subscriptions/s/resourceGroups/r/providers/Microsoft.Storage/storageAccounts/acct',
    subject: '/blobServices/default/containers/videos/blobs/holiday/beach day.mp4',
    eventType: 'Microsoft.Storage.BlobCreated',
    id: 'a1b2c3',
    data: { api: 'PutBlob', contentType: 'video/mp4', contentLength: 1024, blobType: 'BlockBlob', url },
    dataVersion: '',
    metadataVersion: '1',
    eventTime: '2026-01-31T12:00:00.000Z',
  },
]);
const cloudEvent = JSON.stringify({
  specversion: '1.0',
  type: 'Microsoft.Storage.BlobCreated',
  source: '/subscriptions/s/resourceGroups/r/providers/Microsoft.Storage/storageAccounts/acct',
  id: 'c1d2e3',
  time: '2026-01-31T12:00:00.000Z',
  subject: '/blobServices/default/containers/videos/blobs/holiday/beach day.mp4',
  data: { api: 'PutBlockList', url },
});
const outside = eventGrid
  .replaceAll('/videos/', '/thumbnails/')
  .replace('containers/videos', 'containers/thumbnails');
const job = JSON.stringify({
  id: 'job-1',
  video: 'holiday/beach day.mp4',
  options: { rows: 2, cols: 3, mode: 'accurate' },
});
const messages: Record<string, string> = {
  name: 'holiday/beach day.mp4',
  url,
  'url-sas': `${url}?sv=2024-01-01&se=2030-01-01&sp=r&sig=SECRETSIG%3D`,
  json: job,
  'json-url': JSON.stringify({ video: url }),
  'event-grid': eventGrid,
  'event-grid-outside': outside,
  'cloud-event': cloudEvent,
  'quoted-name': JSON.stringify('holiday/beach day.mp4'),
  azurite: 'http://127.0.0.1:10000/devstoreaccount1/videos/a.mp4',
};
for (const [name, text] of Object.entries({ ...messages })) messages[`${name}.base64`] = b64(text);
write('messages', messages);

write('range', {
  open: '1000\nbytes=0-',
  closed: '1000\nbytes=100-199',
  suffix: '1000\nbytes=-500',
  past: '1000\nbytes=1000-',
  several: '1000\nbytes=0-1,5-6',
  huge: '9007199254740991\nbytes=18446744073709551616-',
  spaced: '1000\n bytes = 1 - 2 ',
  empty: '0\nbytes=-1',
});

const paths: Record<string, string> = {};
[
  'POST /api/videos?name=a.mp4',
  'POST /api/jobs',
  'GET /api/jobs',
  'GET /api/jobs/x',
  'GET /api/jobs/x/events',
  'GET /api/videos/a.mp4/source\nrange: bytes=0-1',
  'GET /api/videos/a.mp4/outputs/strip.jpg',
  'GET /api/videos/a.mp4/frame.jpg?time=1&width=320',
  'GET /api/openapi.json',
  'HEAD /api/jobs',
  'GET /%61pi/jobs',
  'GET //api/jobs',
  'GET /./api/jobs',
  'GET /x/../api/jobs',
  'GET /API/jobs',
  'GET /api/jobs?access_token=wrong',
  'GET /api/jobs\nauthorization: Bearer wrong',
  'GET /healthz',
  'GET /',
  'GET /app.js',
  'GET /..%2f..%2fetc%2fpasswd',
  'DELETE /api/jobs/x\norigin: null',
].forEach((line, i) => (paths[`path-${String(i).padStart(2, '0')}`] = line));
write('http-paths', paths);

write('job-bodies', {
  minimal: JSON.stringify({ video: 'a.mp4' }),
  full: JSON.stringify({
    id: 'job-7',
    video: 'dir/b c.mp4',
    options: { rows: 2, cols: 2, outputs: ['strip', 'poster'] },
  }),
  url: JSON.stringify({ video: 'http://127.0.0.1:PORT/devstoreaccount1/videos/a.mp4' }),
  'wrong-type': JSON.stringify({ video: 42 }),
  unknown: JSON.stringify({ video: 'a.mp4', colour: 'red' }),
  'bad-option': JSON.stringify({ video: 'a.mp4', options: { rows: 0 } }),
  'bad-id': JSON.stringify({ video: 'a.mp4', id: '../x' }),
  array: JSON.stringify([{ video: 'a.mp4' }]),
  'not-json': '{"video": ',
});

write('writers', {
  default: JSON.stringify({ name: 'holiday/beach.mp4', duration: 7.6, width: 640, height: 360 }),
  'one-frame': JSON.stringify({ name: 'one.mp4', duration: 0.04, width: 640, height: 360 }),
  long: JSON.stringify({
    name: 'long.mkv',
    duration: 3600,
    width: 1920,
    height: 1080,
    options: { storyboardInterval: 5 },
  }),
  sheets: JSON.stringify({
    name: 'x',
    duration: 1000,
    width: 1080,
    height: 1920,
    options: { storyboardGrid: 3, format: 'webp' },
  }),
  unicode: JSON.stringify({
    name: 'ünï/çödé 😀.mp4',
    duration: 12.345,
    width: 720,
    height: 576,
    displayWidth: 1024,
    displayHeight: 576,
  }),
});

// Media: one recipe per file; -bitexact keeps the bytes the same from one ffmpeg run to the next.
const media: [file: string, args: string[]][] = [
  ['h264-bframes.mp4', ['-c:v', 'libx264', '-bf', '2']],
  ['h264-faststart.mp4', ['-c:v', 'libx264', '-bf', '0', '-movflags', '+faststart']],
  ['h264-fragmented.mp4', ['-c:v', 'libx264', '-movflags', '+frag_keyframe+empty_moov']],
  ['h264.mov', ['-c:v', 'libx264', '-f', 'mov']],
  ['h264.mkv', ['-c:v', 'libx264']],
  ['h264-cues-front.mkv', ['-c:v', 'libx264', '-cluster_time_limit', '100', '-cues_to_front', '1']],
  ['h264-anamorphic.mkv', ['-c:v', 'libx264', '-vf', 'scale=96:54,setsar=4/3']],
  ['h264-audio-rotated.mp4', ['-c:v', 'libx264', '-c:a', 'aac', '-b:a', '16k', '-metadata:s:v', 'rotate=90']],
  ['h264.mpegts', ['-c:v', 'libx264', '-f', 'mpegts']],
  ['hevc.mp4', ['-c:v', 'libx265', '-x265-params', 'log-level=none:keyint=4', '-tag:v', 'hvc1']],
  ['av1.mp4', ['-c:v', 'libaom-av1', '-cpu-used', '8', '-crf', '60']],
  ['vp8.webm', ['-c:v', 'libvpx', '-deadline', 'realtime', '-b:v', '50k']],
  ['vp9.webm', ['-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-crf', '50', '-b:v', '0']],
];
const mediaDir = join(corpus, 'media');
rmSync(mediaDir, { recursive: true, force: true });
mkdirSync(mediaDir, { recursive: true });
for (const [file, args] of media) {
  const audio = args.includes('-c:a') ? ['-f', 'lavfi', '-i', 'sine=d=0.5'] : [];
  const scale = args.includes('-vf') ? [] : ['-vf', 'scale=96:54'];
  const quality = args.includes('-crf') || args.includes('-b:v') ? [] : ['-preset', 'veryfast', '-crf', '35'];
  execFileSync('ffmpeg', [
    ...['-v', 'error', '-y', '-i', fixture, ...audio, '-t', '0.5', '-g', '4', ...scale, ...quality],
    ...(audio.length > 0 ? ['-shortest'] : ['-an']),
    ...['-fflags', '+bitexact', ...args, join(mediaDir, file)],
  ]);
}
console.log(`corpus written to ${corpus}`);
