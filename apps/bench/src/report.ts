import { mkdirSync, writeFileSync } from 'node:fs';
import { chartPng } from './chart.js';
import type { Table } from './table.js';

export type { Table } from './table.js';

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
   * Figures against a growing x (workers, queue depth…), each printed and charted. A suite that has
   * tables prints them instead of its comparisons, which stay in the results file.
   */
  tables?: Table[];
  /** Printed after everything else: what the figures say. */
  conclusion?: string;
}

/**
 * How `quantity` (derived from each figure by `cost`) grows with x, per series, as one sentence. Each
 * step between two x values gets its log-log slope: about 0 is flat, about 1 linear; the first step
 * whose shape differs from the first step's is where the curve bends.
 */
export function describeGrowth(
  table: Pick<Table, 'x' | 'series'>,
  quantity: string,
  cost: (x: number, figure: number) => number,
): string {
  const clauses = table.series.map((series) => {
    const points = series.values.flatMap((v, i) =>
      v !== null && Number.isFinite(v)
        ? [{ name: table.x.names[i]!, x: table.x.values[i]!, c: cost(table.x.values[i]!, v) }]
        : [],
    );
    if (points.length < 2) return `${series.name}: too few figures to tell`;
    const slopes = points.slice(1).map((p, i) => Math.log(p.c / points[i]!.c) / Math.log(p.x / points[i]!.x));
    const shapes = slopes.map(shapeOf);
    const bend = shapes.findIndex((shape) => shape !== shapes[0]);
    const first = points[0]!.name;
    const last = points[points.length - 1]!.name;
    const list = slopes.map((s) => s.toFixed(2)).join(', ');
    if (bend === -1)
      return `${series.name}: ${quantity} ${shapes[0]} from ${first} to ${last} (log-log slopes ${list})`;
    return (
      `${series.name}: ${quantity} ${shapes[0]} from ${first} to ${points[bend]!.name}, then bends and ${shapes[bend]} ` +
      `up to ${last} (log-log slopes ${list})`
    );
  });
  return `${clauses.join('; ')}.`;
}

function shapeOf(slope: number): string {
  if (slope < -0.15) return 'falls';
  if (slope <= 0.15) return 'stays flat';
  if (slope < 0.85) return 'grows less than linearly';
  if (slope <= 1.15) return 'grows linearly';
  return 'grows faster than linearly';
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
  if (result.tables) for (const table of result.tables) printTable(table);
  else if (result.comparisons.length > 0) printComparisons(result);
  if (result.conclusion) console.log(`\n${result.conclusion}`);
}

function printComparisons(result: SuiteResult): void {
  const rows = result.comparisons.map((c) => [
    c.case,
    `${format(c.thrun)} ${c.unit}`,
    `${format(c.peer)} ${c.unit}`,
    c.peerName,
    `${ratio(c).toFixed(2)}×`,
    meetsTarget(c),
  ]);
  printRows(['case', 'thrun', 'peer', 'peer is', 'thrun/peer', 'target'], rows);
}

function printTable(table: Table): void {
  console.log(`\n### ${table.title} (${table.unit})\n`);
  printRows(
    [table.x.label, ...table.series.map((s) => s.name)],
    table.x.names.map((name, i) => [
      name,
      ...table.series.map((s) => (s.values[i] === null ? '–' : format(s.values[i]!))),
    ]),
  );
  if (table.notes.length > 0) console.log(`\n${table.notes.join('\n')}`);
}

function printRows(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((cell, i) => cell.padEnd(widths[i]!)).join('  ');
  console.log(line(header));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const row of rows) console.log(line(row));
}

/** Writes bench-<time>.json and, beside it, bench-<time>-<table id>.png for every table. */
export function writeResults(results: SuiteResult[], directory: URL): string[] {
  mkdirSync(directory, { recursive: true });
  const stem = `bench-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  const file = new URL(`${stem}.json`, directory);
  const data = results.map((r) => ({
    ...r,
    comparisons: r.comparisons.map((c) => ({ ...c, ratio: ratio(c) })),
  }));
  writeFileSync(file, `${JSON.stringify({ node: process.version, results: data }, null, 2)}\n`);
  const charts = results
    .flatMap((r) => r.tables ?? [])
    .map((table) => {
      const chart = new URL(`${stem}-${table.id}.png`, directory);
      writeFileSync(chart, chartPng(table));
      return chart.pathname;
    });
  return [file.pathname, ...charts];
}

export function format(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  return value >= 100 ? Math.round(value).toLocaleString('en-US') : value.toFixed(2);
}
