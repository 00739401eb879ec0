import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { CompletionEvents } from '../../jobs/events/publisher.js';
import type { Worker } from './worker.js';

export interface MetricsSources {
  worker?: Worker;
  /** Approximate depths of the request and poison queues. */
  queueDepth?: () => Promise<{ queue: number; poison: number }>;
  /** Completion events sent (or not) per channel. */
  events?: CompletionEvents;
}

export interface Metrics {
  registry: Registry;
  jobs: Counter<'outcome'>;
  duration: Histogram<'outcome'>;
  overhead: Histogram;
  bytesRead: Counter;
}

/**
 * Prometheus metrics fed by the worker's typed events: jobs by outcome, durations, the part of a
 * job spent outside ffmpeg, bytes read from Blob storage, jobs in flight and queue depth.
 */
export function createMetrics(sources: MetricsSources = {}): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'thumbnailer_' });
  const jobs = new Counter({
    name: 'thumbnailer_jobs_total',
    help: 'Queue messages handled, by outcome (done, skipped, ignored, retried, poisoned, released)',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'thumbnailer_job_duration_seconds',
    help: 'Wall time of a job from receipt to commit, by outcome',
    labelNames: ['outcome'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800],
    registers: [registry],
  });
  const overhead = new Histogram({
    name: 'thumbnailer_job_overhead_seconds',
    help: 'Time of a completed job spent outside the engine (queue, table and blob I/O)',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const bytesRead = new Counter({
    name: 'thumbnailer_storage_bytes_read_total',
    help: 'Bytes of source videos read from Blob storage',
    registers: [registry],
  });
  const worker = sources.worker;
  new Gauge({
    name: 'thumbnailer_jobs_in_flight',
    help: 'Jobs running now',
    registers: [registry],
    collect() {
      this.set(worker?.running ?? 0);
    },
  });
  new Gauge({
    name: 'thumbnailer_storage_up',
    help: '1 while the worker reaches storage, 0 during an outage',
    registers: [registry],
    collect() {
      this.set(worker && !worker.storageHealthy ? 0 : 1);
    },
  });
  if (sources.queueDepth) {
    const depth = sources.queueDepth;
    new Gauge({
      name: 'thumbnailer_queue_depth',
      help: 'Approximate number of messages in the request and poison queues',
      labelNames: ['queue'] as const,
      registers: [registry],
      async collect() {
        try {
          const d = await depth();
          this.set({ queue: 'requests' }, d.queue);
          this.set({ queue: 'poison' }, d.poison);
        } catch {
          // storage down: keep the last values; thumbnailer_storage_up says why
        }
      },
    });
  }
  if (worker) {
    worker.on('completed', (e) => {
      const outcome = e.outcome.kind;
      jobs.inc({ outcome });
      duration.observe({ outcome }, e.outcome.totalMs / 1000);
      if (e.outcome.kind === 'done')
        overhead.observe(Math.max(0, e.outcome.totalMs - e.outcome.engineMs) / 1000);
    });
    worker.on('failed', () => jobs.inc({ outcome: 'retried' }));
    worker.on('poisoned', () => jobs.inc({ outcome: 'poisoned' }));
    worker.on('released', () => jobs.inc({ outcome: 'released' }));
    worker.on('bytesRead', (n) => bytesRead.inc(n));
  }
  if (sources.events) {
    const events = new Counter({
      name: 'thumbnailer_completion_events_total',
      help: 'Completion events by channel (queue, webhook) and result (delivered, failed: given up after retries)',
      labelNames: ['channel', 'result'] as const,
      registers: [registry],
    });
    for (const channel of sources.events.channels) {
      events.inc({ channel, result: 'delivered' }, 0);
      events.inc({ channel, result: 'failed' }, 0);
    }
    sources.events.on('delivery', ({ channel, ok }) =>
      events.inc({ channel, result: ok ? 'delivered' : 'failed' }),
    );
  }
  return { registry, jobs, duration, overhead, bytesRead };
}
