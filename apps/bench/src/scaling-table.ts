/** One figure per x value and series; `null` where a case was not measured (over its time budget). */
export interface ScalingTable {
  /** Names the chart file: bench-<time>-<id>.png. */
  id: string;
  title: string;
  x: { label: string; values: number[]; names: string[] };
  unit: string;
  series: Array<{ name: string; values: Array<number | null> }>;
  /** One sentence computed from the figures: how the cost grows with x and where it bends. */
  growth: string;
  notes: string[];
}
