/**
 * The names a job carries, defined once for the queue-message parser, the output layout and the
 * HTTP schemas (which take a RegExp's `.source` as their `pattern`).
 */

/** Longest video name accepted: output names add `/storyboard-NN.jpg` within Azure's 1024. */
export const MAX_VIDEO_NAME = 960;

/** Job ids: what JSON jobs and events may carry and what the API generates (UUIDs). */
export const JOB_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Output file names the worker writes (strip.jpg, storyboard-0.jpg, manifest.json...). */
export const OUTPUT_FILE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
