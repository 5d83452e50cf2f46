import { mkdirSync, writeFileSync } from 'node:fs';

/** One line of a benchmark table: Thrun's figure beside the peer's, measured in the same run. */
export interface Comparison {
  case: string;
  unit: string;
  thrun: number;
  peer: number;
  peerName: string;
  /** `higher` for throughput, `lower` for latency and memory. */
  better: 'higher' | 'lower';
  /** The target ratio from the issue, when there is one (thrun/peer for `higher`, peer-relative cost for `lower`). */
  target?: number;
}

export interface SuiteResult {
  suite: string;
  workload: string;
  comparisons: Comparison[];
  /**
   * A suite whose rows are not Thrun against a peer (the scale-out suite: one configuration against a
   * baseline of the same run) prints this table instead of the comparisons, which stay in the results file.
   */
  table?: { header: string[]; rows: string[][] };
  /** Printed under the table: what the figures say. */
  conclusion?: string;
}

/** thrun/peer: above 1 is better for throughput; for latency and memory it is thrun's cost relative to the peer. */
export function ratio(comparison: Comparison): number {
  return comparison.peer === 0 ? Number.NaN : comparison.thrun / comparison.peer;
}

function meetsTarget(comparison: Comparison): string {
  if (comparison.target === undefined) return '';
  const r = ratio(comparison);
  const ok = comparison.better === 'higher' ? r >= comparison.target : r <= comparison.target;
  return `${ok ? 'met' : 'MISSED'} (${comparison.better === 'higher' ? '≥' : '≤'} ${comparison.target}×)`;
}

export function printSuite(result: SuiteResult): void {
  console.log(`\n## ${result.suite}\n${result.workload}\n`);
  if (result.table) printTable(result.table.header, result.table.rows);
  else printComparisons(result.comparisons);
  if (result.conclusion) console.log(`\n${result.conclusion}`);
}

function printComparisons(comparisons: Comparison[]): void {
  const rows = comparisons.map((c) => [
    c.case,
    `${format(c.thrun)} ${c.unit}`,
    `${format(c.peer)} ${c.unit}`,
    c.peerName,
    `${ratio(c).toFixed(2)}×`,
    meetsTarget(c),
  ]);
  printTable(['case', 'thrun', 'peer', 'peer is', 'thrun/peer', 'target'], rows);
}

function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((cell, i) => cell.padEnd(widths[i]!)).join('  ');
  console.log(line(header));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const row of rows) console.log(line(row));
}

export function writeResults(results: SuiteResult[], directory: URL): string {
  mkdirSync(directory, { recursive: true });
  const file = new URL(`bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`, directory);
  const data = results.map((r) => ({
    ...r,
    comparisons: r.comparisons.map((c) => ({ ...c, ratio: ratio(c) })),
  }));
  writeFileSync(file, `${JSON.stringify({ node: process.version, results: data }, null, 2)}\n`);
  return file.pathname;
}

export function format(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  return value >= 100 ? Math.round(value).toLocaleString('en-US') : value.toFixed(2);
}
