import { lookup } from 'node:dns/promises';
import type { Settings } from '../../config.js';
import { isLoopbackHost } from '../../config.js';
import type { Storage } from '../../adapters/storage.js';
import { redactSecrets } from '../../errors.js';
import { describeWebhookUrl } from './webhook.js';

export type DoctorLine = { ok: boolean | 'note'; text: string };

/**
 * `thumbnailer doctor` on the completion-event channels: the events queue reachable (or absent,
 * which is fine: it is created at the first event), the webhook URL allowed and its host
 * resolvable. Nothing is sent: a receiver must not get an unsigned or fake event.
 */
export async function eventChannelLines(
  settings: Pick<Settings, 'events'>,
  storage: Pick<Storage, 'queueNamed'> | undefined,
): Promise<DoctorLine[]> {
  const { queueName, webhook } = settings.events;
  if (!queueName && !webhook)
    return [
      {
        ok: 'note',
        text: 'completion events: off (set THUMBNAILER_EVENTS_QUEUE and/or THUMBNAILER_WEBHOOK_URL with THUMBNAILER_WEBHOOK_SECRET; see docs/events.md)',
      },
    ];
  const lines: DoctorLine[] = [];
  if (queueName) {
    if (!storage) {
      lines.push({ ok: 'note', text: `events queue ${queueName}: not checked (no storage configured)` });
    } else {
      try {
        await storage.queueNamed(queueName).depth({ signal: AbortSignal.timeout(10_000) });
        lines.push({ ok: true, text: `events queue ${queueName} reachable` });
      } catch (error) {
        const e = error as { code?: string; message?: string };
        lines.push(
          e.code === 'E_BLOB_NOT_FOUND'
            ? {
                ok: 'note',
                text: `events queue ${queueName} does not exist yet: it is created at the first event`,
              }
            : {
                ok: false,
                text: `events queue ${queueName} is not reachable (${redactSecrets(String(e.message ?? error).split('\n')[0]!)}): check storage access and, for identity-based access, the Storage Queue Data Message Sender role`,
              },
        );
      }
    }
  }
  if (webhook) {
    const url = new URL(webhook.url);
    const target = describeWebhookUrl(webhook.url);
    const how = url.protocol === 'https:' ? 'https' : 'http to a loopback host';
    if (isLoopbackHost(url.hostname)) {
      lines.push({ ok: true, text: `webhook ${target} allowed (${how}); events are signed (secret set)` });
    } else {
      try {
        await lookup(url.hostname.replace(/^\[|\]$/g, ''));
        lines.push({
          ok: true,
          text: `webhook ${target} allowed (${how}), host resolves; events are signed (secret set)`,
        });
      } catch {
        lines.push({
          ok: false,
          text: `webhook ${target}: the host ${url.hostname} does not resolve: check THUMBNAILER_WEBHOOK_URL and this machine's DNS`,
        });
      }
    }
  }
  return lines;
}
