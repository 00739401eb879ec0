import { TableClient } from '@azure/data-tables';
import { adminStorage, Check, namesFor, poisonMessages, readLog, type Rig } from '../harness.js';
import type { ScenarioOutcome } from '../run.js';

const SCENARIOS = ['crash', 'shutdown', 'outage', 'ffmpeg', 'hostile', 'load'];

/**
 * Secrets: after every other scenario ran with a recognisable account key (workers on the key) and
 * an account SAS (workers on a SAS connection string; a message carrying the SAS), no log line,
 * job record or poison message holds the key, the SAS signature or a connection string.
 */
export async function secrets(rig: Rig): Promise<ScenarioOutcome> {
  const check = new Check();
  const { account } = rig;
  const needles: [string, string][] = [
    ['account key', account.key],
    ['account key (decoded prefix)', 'FAULTSUITE-SECRET-KEY-'],
    ['SAS signature', account.sasSignature],
    ['SAS signature (URL-encoded)', encodeURIComponent(account.sasSignature)],
    ['SAS token', account.sas],
    ['key connection string', account.viaProxy],
    ['SAS connection string', account.sasViaProxy],
  ];
  const found: string[] = [];
  const scan = (where: string, text: string) => {
    for (const [what, needle] of needles) if (text.includes(needle)) found.push(`${what} in ${where}`);
  };

  const logs = [...new Set(rig.workers.map((w) => w.log))];
  let lines = 0;
  for (const log of logs) {
    for (const line of readLog(log)) {
      lines++;
      scan(log.replace(/^.*\//, 'log '), JSON.stringify(line));
    }
  }
  const table = TableClient.fromConnectionString(account.direct, 'thumbnailjobs', {
    allowInsecureConnection: true,
  });
  let entities = 0;
  for await (const e of table.listEntities()) {
    entities++;
    scan(`table row ${e.partitionKey}/${e.rowKey}`, JSON.stringify(e));
  }
  let poisoned = 0;
  for (const s of SCENARIOS) {
    const storage = await adminStorage(rig, namesFor(s));
    for (const p of await poisonMessages(storage)) {
      poisoned++;
      scan(`${s} poison message`, p.text);
    }
  }
  const sasWorkers = new Set(rig.workers.filter((w) => w.sas).map((w) => w.log)).size;
  check.ok(
    logs.length > 5 && entities > 100,
    `enough material scanned (${logs.length} logs, ${entities} rows)`,
  );
  check.equal(found.length, 0, `secrets found: ${[...new Set(found)].slice(0, 8).join('; ')}`);
  return {
    check,
    figures: `scanned ${lines} log lines from ${logs.length} worker logs (${sasWorkers} on a SAS connection string), ${entities} table rows, ${poisoned} poison messages (raw and decoded): ${found.length} occurrences of the key, SAS signature or connection strings`,
  };
}
