import { max, median, min } from './stats.js';
import type { TargetRow, TimingRow } from './types.js';

/** Markdown tables of the run: what printed on the terminal is what goes into bench/results.md. */

export type Verdict = 'PASS' | 'FAIL' | 'INVALID' | 'info';

const seconds = (n: number | undefined) => (n === undefined ? '-' : n.toFixed(2));

export function timingVerdict(row: TimingRow): 'valid' | 'INVALID' {
  return row.problems.length > 0 || row.seconds.length === 0 ? 'INVALID' : 'valid';
}

export function targetVerdict(row: TargetRow, timings: TimingRow[]): Verdict {
  const inputs = timings.filter((t) => row.from.includes(t.id));
  if ((row.problems?.length ?? 0) > 0 || inputs.some((t) => timingVerdict(t) === 'INVALID')) return 'INVALID';
  if (row.comparator === undefined || row.target === undefined) return 'info';
  if (row.value === undefined || Number.isNaN(row.value)) return 'INVALID';
  const ok =
    row.comparator === '>='
      ? row.value >= row.target
      : row.comparator === '<='
        ? row.value <= row.target
        : row.value < row.target;
  return ok ? 'PASS' : 'FAIL';
}

function value(row: TargetRow): string {
  if (row.value === undefined) return '-';
  if (row.unit === 'MB') return `${row.value.toFixed(row.value < 10 ? 2 : 0)} MB`;
  // Two decimals near the thresholds, so that 7.96x is not shown as a failing 8.0x.
  return `${row.value.toFixed(row.value < 10 ? 2 : 1)}x`;
}

function target(row: TargetRow): string {
  if (row.comparator === undefined || row.target === undefined) return '-';
  return `${row.comparator} ${row.target}${row.unit === 'x' ? 'x' : ' MB'}`;
}

const cell = (text: string) => text.replace(/\|/g, '\\|');

export function timingTable(rows: TimingRow[]): string {
  const lines = [
    '| command | runs | min s | median s | max s | output |',
    '|---|---:|---:|---:|---:|---|',
    ...rows.map(
      (r) =>
        `| ${cell(r.label)}<br>\`${cell(r.command)}\` | ${r.seconds.length} | ${seconds(min(r.seconds))} | ` +
        `${seconds(median(r.seconds))} | ${seconds(max(r.seconds))} | ${timingVerdict(r)} |`,
    ),
  ];
  return lines.join('\n');
}

export function targetTable(rows: TargetRow[], timings: TimingRow[]): string {
  const lines = [
    '| figure | measured | target | result |',
    '|---|---:|---:|---|',
    ...rows.map(
      (r) =>
        `| ${cell(r.label)}${r.detail ? `<br><small>${cell(r.detail)}</small>` : ''} | ${value(r)} | ${target(r)} | ` +
        `${targetVerdict(r, timings)} |`,
    ),
  ];
  return lines.join('\n');
}
