import type { QueueStats } from '@thrun/contract';
import type { ThrunStats } from '@thrun/core';

/** One reading of every queue, for the charts. */
export interface Sample {
  /** Unix time, seconds (what uPlot's time axis takes). */
  t: number;
  queues: QueueStats[];
  /** This process's own counters (a dashboard mounted in a worker sees its throughput). */
  totals: Pick<ThrunStats['totals'], 'dispatched' | 'handled' | 'retried' | 'deadLettered'>;
}

/**
 * Reads the queue counts every `intervalMs` and keeps the last `size` readings, so a page opened
 * later still draws the recent past. One reader for every open page; it runs only while started.
 */
export class Sampler {
  private readonly samples: Sample[] = [];
  private timer: NodeJS.Timeout | undefined;
  private reading: Promise<Sample> | undefined;

  constructor(
    private readonly read: () => Promise<QueueStats[]>,
    private readonly totals: () => ThrunStats['totals'],
    private readonly intervalMs: number,
    private readonly size = 300,
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.sample().catch(() => {}), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Takes a reading now (shared with one already under way). */
  sample(): Promise<Sample> {
    this.reading ??= this.read()
      .then((queues) => {
        const { dispatched, handled, retried, deadLettered } = this.totals();
        const sample = {
          t: Date.now() / 1000,
          queues,
          totals: { dispatched, handled, retried, deadLettered },
        };
        this.samples.push(sample);
        if (this.samples.length > this.size) this.samples.shift();
        return sample;
      })
      .finally(() => {
        this.reading = undefined;
      });
    return this.reading;
  }

  latest(): Sample | undefined {
    return this.samples.at(-1);
  }

  history(): readonly Sample[] {
    return this.samples;
  }
}
