// @ts-check
/**
 * The dashboard: uploads (drag and drop or picker, XHR progress), a live job list (polling, plus
 * server-sent events for jobs uploaded here), and a page per video (#/video/<name>) with the strip,
 * the poster, the manifest's facts and a player whose seek bar previews storyboard tiles from
 * storyboard.vtt. Plain browser JavaScript: no framework, nothing fetched from elsewhere.
 */

/**
 * @typedef {{ id: string, video: string, status: 'queued'|'running'|'done'|'failed', progress: number,
 *   phase?: string, attempts: number, error?: { code: string, message: string },
 *   outputs?: Record<string, string>, createdAt: string, updatedAt: string, finishedAt?: string }} Job
 * @typedef {{ start: number, end: number, url: string, x: number, y: number, w: number, h: number }} Cue
 */

const TOKEN_KEY = 'thumbnailer.token';

/** @template {HTMLElement} T @param {string} id @returns {T} */
function $(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing`);
  return /** @type {T} */ (el);
}

/** @param {string} tag @param {Record<string, string>} [attrs] @param {(Node|string)[]} [children] */
function h(tag, attrs = {}, children = []) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  for (const c of children) el.append(c);
  return el;
}

const token = () => sessionStorage.getItem(TOKEN_KEY) ?? '';

/** An API path for <img>, <video> and EventSource, which cannot send headers. */
function mediaUrl(/** @type {string} */ path) {
  const t = token();
  if (!t) return path;
  return `${path}${path.includes('?') ? '&' : '?'}access_token=${encodeURIComponent(t)}`;
}

const videoPath = (/** @type {string} */ name) => `/api/videos/${encodeURIComponent(name)}`;

/** fetch with the bearer token; a 401 asks for one. */
async function api(/** @type {string} */ path, /** @type {RequestInit} */ init = {}) {
  const headers = new Headers(init.headers);
  if (token()) headers.set('authorization', `Bearer ${token()}`);
  const res = await fetch(path, { ...init, headers });
  if (res.status === 401) askToken();
  return res;
}

function askToken() {
  const form = $('token-form');
  if (!form.hidden) return;
  form.hidden = false;
  $('token').focus();
}

$('token-form').addEventListener('submit', (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, /** @type {HTMLInputElement} */ ($('token')).value.trim());
  $('token-form').hidden = true;
  void refreshJobs();
  void route();
});

function announce(/** @type {string} */ text) {
  $('announce').textContent = text;
}

/** 0:07, 1:02:03 */
function clock(/** @type {number} */ seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return hh ? `${hh}:${String(mm).padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}

function bytes(/** @type {number} */ n) {
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = -1;
  do {
    v /= 1024;
    i++;
  } while (v >= 1024 && i < units.length - 1);
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

function ago(/** @type {string} */ iso) {
  const s = (Date.now() - Date.parse(iso)) / 1000;
  if (!Number.isFinite(s)) return '';
  if (s < 45) return 'just now';
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return new Date(iso).toLocaleDateString();
}

// ---------------------------------------------------------------- uploads

/** Jobs started from this page: followed by server-sent events, opened when done. */
const followed = new Set();

function upload(/** @type {File} */ file) {
  const row = h('li', {}, [
    h('div', { class: 'line' }, [
      h('span', { class: 'name' }, [file.name]),
      h('span', { class: 'muted', 'data-role': 'status' }, ['0%']),
    ]),
    h('progress', { max: '1', value: '0', 'aria-label': `Upload of ${file.name}` }),
  ]);
  $('uploads').prepend(row);
  const bar = /** @type {HTMLProgressElement} */ (row.querySelector('progress'));
  const status = /** @type {HTMLElement} */ (row.querySelector('[data-role=status]'));
  const xhr = new XMLHttpRequest();
  xhr.open('POST', `/api/videos?name=${encodeURIComponent(file.name)}`);
  if (token()) xhr.setRequestHeader('authorization', `Bearer ${token()}`);
  xhr.setRequestHeader('content-type', file.type || 'application/octet-stream');
  xhr.upload.addEventListener('progress', (e) => {
    if (!e.lengthComputable) return;
    bar.value = e.loaded / e.total;
    status.textContent = `${Math.round((e.loaded / e.total) * 100)}% of ${bytes(e.total)}`;
  });
  xhr.addEventListener('load', () => {
    /** @type {any} */
    let body = {};
    try {
      body = JSON.parse(xhr.responseText);
    } catch {
      // not JSON: the status says enough
    }
    if (xhr.status === 202) {
      bar.value = 1;
      bar.classList.add('done');
      status.textContent = 'stored, job queued';
      announce(`${file.name} uploaded; its job is queued.`);
      follow(/** @type {Job} */ (body));
    } else {
      if (xhr.status === 401) askToken();
      status.textContent = `failed: ${body?.error?.message ?? `HTTP ${xhr.status}`}`;
      status.classList.add('reason');
      announce(`Upload of ${file.name} failed.`);
    }
  });
  xhr.addEventListener('error', () => {
    status.textContent = 'failed: the connection was lost';
  });
  xhr.send(file);
}

const fileInput = /** @type {HTMLInputElement} */ ($('file'));
fileInput.addEventListener('change', () => {
  for (const file of fileInput.files ?? []) upload(file);
  fileInput.value = '';
});

const drop = $('drop');
for (const type of ['dragenter', 'dragover']) {
  drop.addEventListener(type, (event) => {
    event.preventDefault();
    drop.classList.add('over');
  });
}
for (const type of ['dragleave', 'drop']) {
  drop.addEventListener(type, () => drop.classList.remove('over'));
}
drop.addEventListener('drop', (event) => {
  event.preventDefault();
  for (const file of event.dataTransfer?.files ?? []) upload(file);
});
// A file dropped anywhere else must not navigate away from the page.
window.addEventListener('dragover', (e) => e.preventDefault());
window.addEventListener('drop', (e) => e.preventDefault());

// ---------------------------------------------------------------- jobs

/** @type {Map<string, Job>} */
const jobs = new Map();

/** Follows one job with server-sent events until it ends. */
function follow(/** @type {Job} */ job) {
  jobs.set(job.id, job);
  followed.add(job.id);
  renderJobs();
  const source = new EventSource(mediaUrl(`/api/jobs/${encodeURIComponent(job.id)}/events`));
  const update = (/** @type {MessageEvent} */ e) => {
    const next = /** @type {Job} */ (JSON.parse(e.data));
    jobs.set(next.id, next);
    renderJobs();
    return next;
  };
  source.addEventListener('progress', update);
  for (const end of ['done', 'failed']) {
    source.addEventListener(end, (e) => {
      source.close();
      const next = update(/** @type {MessageEvent} */ (e));
      announce(`${next.video}: ${next.status === 'done' ? 'thumbnails ready' : 'job failed'}.`);
      if (next.status === 'done' && !location.hash.startsWith('#/video/')) {
        location.hash = `#/video/${encodeURIComponent(next.video)}`;
      } else if (current === next.video) void route();
    });
  }
  // An error before the end: the list keeps polling, so the job is still followed there.
  source.addEventListener('error', () => {
    if (source.readyState === EventSource.CLOSED) followed.delete(job.id);
  });
}

function jobRow(/** @type {Job} */ job) {
  const li = h('li', { class: 'job', 'data-id': job.id });
  li.replaceChildren(...jobParts(job));
  return li;
}

function jobParts(/** @type {Job} */ job) {
  const name =
    job.status === 'done'
      ? h('a', { class: 'name', href: `#/video/${encodeURIComponent(job.video)}` }, [job.video])
      : h('span', { class: 'name' }, [job.video]);
  const label = job.status === 'running' ? `running ${Math.round(job.progress * 100)}%` : job.status;
  const parts = [h('div', { class: 'line' }, [name, h('span', { class: `badge ${job.status}` }, [label])])];
  if (job.status === 'running' || job.status === 'queued') {
    parts.push(
      h('progress', {
        max: '1',
        value: String(job.progress),
        'aria-label': `Progress of ${job.video}`,
      }),
    );
  }
  const meta = [job.phase && job.status === 'running' ? job.phase : '', ago(job.updatedAt)];
  if (job.attempts > 1) meta.unshift(`attempt ${job.attempts}`);
  else if (job.attempts === 1 && job.status === 'failed') meta.unshift('1 attempt');
  parts.push(h('div', { class: 'meta' }, [meta.filter(Boolean).join(' · ')]));
  if (job.error && job.status !== 'done') {
    parts.push(
      h('p', { class: 'reason' }, [
        `${job.status === 'failed' ? 'Failed' : 'Retrying'}: ${job.error.message} (${job.error.code})`,
      ]),
    );
  }
  return parts;
}

/** Keyed update: rows are reused, so focus and scroll stay where they are. */
function renderJobs() {
  const list = $('jobs');
  const sorted = [...jobs.values()].sort((a, b) => b.createdAt.localeCompare(a.createdAt)).slice(0, 50);
  /** @type {Map<string, Element>} */
  const existing = new Map([...list.children].map((el) => [el.getAttribute('data-id') ?? '', el]));
  let previous = /** @type {Element | null} */ (null);
  for (const job of sorted) {
    let li = existing.get(job.id);
    const key = JSON.stringify([job.status, job.progress, job.phase, job.attempts, job.error, job.updatedAt]);
    if (!li) li = jobRow(job);
    else if (li.getAttribute('data-key') !== key) li.replaceChildren(...jobParts(job));
    li.setAttribute('data-key', key);
    if (current === job.video) li.setAttribute('aria-current', 'page');
    else li.removeAttribute('aria-current');
    existing.delete(job.id);
    if (previous ? previous.nextElementSibling !== li : list.firstElementChild !== li) {
      if (previous) previous.after(li);
      else list.prepend(li);
    }
    previous = li;
  }
  for (const el of existing.values()) el.remove();
  $('jobs-empty').hidden = sorted.length > 0;
  const running = sorted.filter((j) => j.status === 'running').length;
  const queued = sorted.filter((j) => j.status === 'queued').length;
  $('jobs-summary').textContent = [running && `${running} running`, queued && `${queued} queued`]
    .filter(Boolean)
    .join(', ');
}

let pollTimer = 0;
/**
 * The job list comes in pages (`next`). The first listing reads up to FIRST_PAGES pages; after it,
 * each tick asks only for jobs updated since the newest seen (a minute earlier, for writers whose
 * clocks lag), a few pages at most per tick.
 */
let listing = { since: '', next: '' };
let newest = '';
let firstPages = 0;
const PAGES_PER_TICK = 5;
const FIRST_PAGES = 10;
async function refreshJobs() {
  clearTimeout(pollTimer);
  try {
    for (let page = 0; page < PAGES_PER_TICK; page++) {
      let query = 'limit=100';
      if (listing.since) query += `&since=${encodeURIComponent(listing.since)}`;
      if (listing.next) query += `&next=${encodeURIComponent(listing.next)}`;
      const res = await api(`/api/jobs?${query}`);
      if (!res.ok) break;
      const body = /** @type {{ jobs: Job[], next?: string }} */ (await res.json());
      for (const job of body.jobs) {
        if (job.updatedAt > newest) newest = job.updatedAt;
        const known = jobs.get(job.id);
        // An event stream may be ahead of the table: keep the newer of the two.
        if (known && followed.has(job.id) && known.status === job.status && known.progress > job.progress)
          continue;
        jobs.set(job.id, job);
      }
      renderJobs();
      const firstListing = !listing.since;
      if (body.next && (!firstListing || ++firstPages < FIRST_PAGES)) {
        listing = { since: listing.since, next: body.next };
        continue;
      }
      const since = newest ? new Date(Date.parse(newest) - 60_000).toISOString() : '';
      listing = { since, next: '' };
      break;
    }
  } catch {
    // offline for a moment: try again on the next tick
  }
  const active = [...jobs.values()].some((j) => j.status === 'queued' || j.status === 'running');
  pollTimer = window.setTimeout(refreshJobs, document.hidden ? 10_000 : active ? 1000 : 4000);
}
document.addEventListener('visibilitychange', () => {
  if (!document.hidden) void refreshJobs();
});

// ---------------------------------------------------------------- video page

/** @type {string | undefined} */
let current;
/** @type {Cue[]} */
let cues = [];
let duration = 0;

/** Parses storyboard.vtt: cue times and `sprite.jpg#xywh=x,y,w,h` payloads, resolved against the VTT. */
export function parseVtt(/** @type {string} */ text, /** @type {string} */ base) {
  /** @type {Cue[]} */
  const out = [];
  const lines = text.replace(/\r/g, '').split('\n');
  const time = (/** @type {string} */ t) => {
    const parts = t.trim().split(':').map(Number);
    return parts.reduce((acc, p) => acc * 60 + p, 0);
  };
  for (let i = 0; i < lines.length; i++) {
    const m = /^\s*([\d:.]+)\s+-->\s+([\d:.]+)/.exec(lines[i] ?? '');
    if (!m) continue;
    const payload = (lines[i + 1] ?? '').trim();
    const frag = /^(.*)#xywh=(\d+),(\d+),(\d+),(\d+)$/.exec(payload);
    if (!frag) continue;
    out.push({
      start: time(m[1] ?? '0'),
      end: time(m[2] ?? '0'),
      url: new URL(frag[1] ?? '', new URL(base, location.href)).pathname,
      x: Number(frag[2]),
      y: Number(frag[3]),
      w: Number(frag[4]),
      h: Number(frag[5]),
    });
  }
  return out;
}

/** The cue showing time `t` (the last one also covers the very end). */
function cueAt(/** @type {number} */ t) {
  return (
    cues.find((c) => t >= c.start && t < c.end) ??
    (t >= (cues.at(-1)?.end ?? Infinity) ? cues.at(-1) : cues[0])
  );
}

const player = /** @type {HTMLVideoElement} */ ($('player'));
const seek = /** @type {HTMLInputElement} */ ($('seek'));
const seekWrap = $('seek-wrap');
const preview = $('preview');
const previewImage = $('preview-image');

function showPreview(/** @type {number} */ t) {
  const cue = cueAt(t);
  if (!cue || !duration) return;
  previewImage.style.backgroundImage = `url("${mediaUrl(cue.url)}")`;
  previewImage.style.backgroundPosition = `${-cue.x}px ${-cue.y}px`;
  previewImage.style.width = `${cue.w}px`;
  previewImage.style.height = `${cue.h}px`;
  previewImage.dataset.time = String(t);
  // Short videos: tenths of a second, so neighbouring tiles read differently.
  $('preview-time').textContent = duration < 600 ? `${clock(t)}.${Math.floor((t % 1) * 10)}` : clock(t);
  preview.hidden = false;
  // Centred over the time, kept inside the bar.
  const width = seekWrap.clientWidth;
  const half = cue.w / 2 + 4;
  const x = Math.min(Math.max((t / duration) * width, half), Math.max(half, width - half));
  preview.style.left = `${x}px`;
}

function hidePreview() {
  if (document.activeElement !== seek) preview.hidden = true;
}

/** The time under the pointer: the bar's width maps linearly onto 0..duration. */
function timeAtPointer(/** @type {PointerEvent} */ e) {
  const rect = seek.getBoundingClientRect();
  const f = Math.min(1, Math.max(0, (e.clientX - rect.left) / rect.width));
  return f * duration;
}

seek.addEventListener('pointermove', (e) => showPreview(timeAtPointer(e)));
seek.addEventListener('pointerleave', hidePreview);
seek.addEventListener('focus', () => showPreview(Number(seek.value)));
seek.addEventListener('blur', () => (preview.hidden = true));
seek.addEventListener('input', () => {
  const t = Number(seek.value);
  player.currentTime = t;
  if (document.activeElement === seek) showPreview(t);
  showTime(t);
});
seek.addEventListener('keydown', (e) => {
  if (e.key === 'Escape') preview.hidden = true;
});

function showTime(/** @type {number} */ t) {
  $('time').textContent = `${clock(t)} / ${clock(duration)}`;
  seek.setAttribute('aria-valuetext', `${clock(t)} of ${clock(duration)}`);
}

player.addEventListener('timeupdate', () => {
  if (document.activeElement !== seek) seek.value = String(player.currentTime);
  showTime(player.currentTime);
});
const playButton = $('play');
const playIcon = $('play-icon');
function syncPlay() {
  const paused = player.paused;
  playButton.setAttribute('aria-label', paused ? 'Play' : 'Pause');
  playIcon.setAttribute('d', paused ? 'M8 5v14l11-7z' : 'M6 5h4v14H6zM14 5h4v14h-4z');
}
player.addEventListener('play', syncPlay);
player.addEventListener('pause', syncPlay);
player.addEventListener('click', () => playButton.click());
playButton.addEventListener('click', () => {
  if (player.paused) void player.play();
  else player.pause();
});

$('grab').addEventListener('click', () => {
  if (!current) return;
  const t = Math.min(Number(seek.value), Math.max(0, duration - 0.001));
  const img = /** @type {HTMLImageElement} */ ($('frame'));
  img.src = mediaUrl(`${videoPath(current)}/frame.jpg?time=${t.toFixed(3)}&width=640&mode=accurate`);
  img.alt = `Frame at ${clock(t)}`;
  $('frame-caption').textContent = `Exact frame at ${t.toFixed(2)} s, made on demand from Blob storage`;
  $('frame-figure').hidden = false;
});

/** @param {string} name */
async function openVideo(name) {
  current = name;
  renderJobs();
  $('welcome').hidden = true;
  $('video').hidden = false;
  $('video-title').textContent = name;
  document.title = `${name} · video-thumbnailer`;
  const body = $('video-body');
  const message = $('video-message');
  const status = $('video-status');
  const job = [...jobs.values()]
    .filter((j) => j.video === name)
    .sort((a, b) => b.createdAt.localeCompare(a.createdAt))[0];
  status.className = `badge ${job?.status ?? ''}`;
  status.textContent = job?.status ?? '';

  const res = await api(`${videoPath(name)}/outputs/manifest.json`);
  if (current !== name) return;
  if (!res.ok) {
    body.hidden = true;
    message.hidden = false;
    message.textContent =
      res.status === 404
        ? 'No thumbnails yet: the job has not finished. This page fills in when it does.'
        : `Could not read the manifest (HTTP ${res.status}).`;
    return;
  }
  /** @type {any} */
  const manifest = await res.json();
  message.hidden = true;
  body.hidden = false;
  status.className = 'badge done';
  status.textContent = 'done';
  const outputs =
    /** @type {{ file: string, kind: string, bytes: number, width?: number, height?: number }[]} */ (
      manifest.outputs
    );
  const has = (/** @type {string} */ kind) => outputs.find((o) => o.kind === kind);
  const out = (/** @type {string} */ file) => mediaUrl(`${videoPath(name)}/outputs/${file}`);

  duration = Number(manifest.input.duration) || 0;
  seek.max = String(duration);
  seek.step = String(Math.max(0.04, Math.min(1, duration / 500)));
  seek.value = '0';
  showTime(0);
  player.src = mediaUrl(`${videoPath(name)}/source`);
  const poster = has('poster');
  if (poster) player.poster = out(poster.file);

  const strip = /** @type {HTMLImageElement} */ ($('strip'));
  const stripOut = has('strip');
  strip.hidden = !stripOut;
  if (stripOut) {
    strip.src = out(stripOut.file);
    strip.alt = `Contact sheet of ${name}: ${manifest.options.cols} by ${manifest.options.rows} frames`;
  }
  const posterImg = /** @type {HTMLImageElement} */ ($('poster'));
  posterImg.hidden = !poster;
  if (poster) {
    posterImg.src = out(poster.file);
    posterImg.alt = `Poster frame of ${name}`;
  }
  $('frame-figure').hidden = true;

  const input = manifest.input;
  /** @type {[string, string][]} */
  const facts = [
    ['Duration', `${clock(input.duration)} (${Number(input.duration).toFixed(2)} s)`],
    [
      'Size',
      `${input.displayWidth}×${input.displayHeight}${input.rotation ? `, rotated ${input.rotation}°` : ''}`,
    ],
    ['Codec', [input.codec, input.profile, input.pixelFormat].filter(Boolean).join(' · ')],
    [
      'Frame rate',
      input.frameRate
        ? `${Number(input.frameRate)
            .toFixed(3)
            .replace(/\.?0+$/, '')} fps`
        : '—',
    ],
    ['File', `${bytes(input.size)} ${input.container ?? ''}`],
    ['Audio', input.hasAudio ? 'yes' : 'no'],
    [
      'Read',
      manifest.bytesRead
        ? `${bytes(manifest.bytesRead)} (${((manifest.bytesRead / input.size) * 100).toFixed(1)}%) by ${manifest.route}`
        : manifest.route,
    ],
    ['Made in', manifest.timings?.total ? `${(manifest.timings.total / 1000).toFixed(2)} s` : '—'],
    ['ffmpeg', manifest.ffmpeg?.version ?? '—'],
  ];
  if (input.hdr) facts.splice(3, 0, ['HDR', `${input.hdr.toUpperCase()}, tone-mapped`]);
  $('facts').replaceChildren(...facts.flatMap(([k, v]) => [h('dt', {}, [k]), h('dd', {}, [v])]));
  $('outputs').replaceChildren(
    ...outputs.map((o) =>
      h('li', {}, [
        h('a', { href: out(o.file) }, [o.file]),
        h('span', { class: 'muted' }, [
          [o.width && o.height ? `${o.width}×${o.height}` : '', bytes(o.bytes)].filter(Boolean).join(' · '),
        ]),
      ]),
    ),
  );

  cues = [];
  const vtt = outputs.find((o) => o.kind === 'storyboard-vtt');
  if (vtt) {
    const path = `${videoPath(name)}/outputs/${vtt.file}`;
    const r = await api(path);
    if (r.ok && current === name) {
      cues = parseVtt(await r.text(), path);
      // Warm the sprite sheets so the first hover shows at once.
      for (const url of new Set(cues.map((c) => c.url))) new Image().src = mediaUrl(url);
    }
  }
  seekWrap.dataset.ready = cues.length > 0 ? 'true' : 'false';
}

function closeVideo() {
  current = undefined;
  player.removeAttribute('src');
  player.load();
  $('video').hidden = true;
  $('welcome').hidden = false;
  document.title = 'video-thumbnailer';
  renderJobs();
}

async function route() {
  const m = /^#\/video\/(.+)$/.exec(location.hash);
  if (m) {
    let name;
    try {
      name = decodeURIComponent(m[1] ?? '');
    } catch {
      return closeVideo();
    }
    await openVideo(name);
  } else closeVideo();
}
window.addEventListener('hashchange', () => void route());

if (token()) $('api-link').setAttribute('href', mediaUrl('/api/openapi.json'));
void refreshJobs();
void route();
