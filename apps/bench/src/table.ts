/**
 * The one table shape every suite prints (beside its comparisons): a figure per x value and series,
 * `null` where a case was not measured. Each table is also drawn as a PNG chart beside the results.
 */
export interface Table {
  /** Names the chart file: bench-<time>-<id>.png. */
  id: string;
  title: string;
  x: { label: string; values: number[]; names: string[] };
  unit: string;
  series: Array<{ name: string; values: Array<number | null> }>;
  /** Printed under the table: what the figures say (the scaling suite's growth sentence first), what was not measured. */
  notes: string[];
}
