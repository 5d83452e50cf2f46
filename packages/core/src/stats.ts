/** Latency of one event's handlers, over the most recent samples (up to 1,024 per event). */
export interface LatencySummary {
  /** Handler runs measured since start. */
  count: number;
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** Counters of one event name. */
export interface EventStats {
  /** Dispatched by this process through the transport. */
  dispatched: number;
  /** Deliveries whose handlers all succeeded (acknowledged). */
  handled: number;
  /** Deliveries put back for another attempt. */
  retried: number;
  /** Deliveries moved to the dead-letter queue. */
  deadLettered: number;
  /** Deliveries being handled right now. */
  inFlight: number;
  latency: LatencySummary;
}

export interface ThrunStats {
  /** Per event name. */
  events: Record<string, EventStats>;
  /**
   * Sums over every event, plus deliveries that never became an event (undecodable bytes), and
   * settlements the broker refused (each refusal counts; the worker backs off and tries again).
   */
  totals: Omit<EventStats, 'latency'> & { rejected: number; settleFailures: number };
}

const SAMPLES = 1024;

class EventCounters {
  dispatched = 0;
  handled = 0;
  retried = 0;
  deadLettered = 0;
  inFlight = 0;
  count = 0;
  sumMs = 0;
  maxMs = 0;
  private readonly samples = new Float64Array(SAMPLES);

  record(durationMs: number): void {
    this.samples[this.count % SAMPLES] = durationMs;
    this.count++;
    this.sumMs += durationMs;
    if (durationMs > this.maxMs) this.maxMs = durationMs;
  }

  latency(): LatencySummary {
    const n = Math.min(this.count, SAMPLES);
    const sorted = this.samples.slice(0, n).sort();
    const at = (q: number) => (n === 0 ? 0 : sorted[Math.min(n - 1, Math.floor(q * n))]!);
    return {
      count: this.count,
      meanMs: this.count === 0 ? 0 : this.sumMs / this.count,
      p50Ms: at(0.5),
      p99Ms: at(0.99),
      maxMs: this.maxMs,
    };
  }
}

export class StatsCollector {
  private readonly events = new Map<string, EventCounters>();
  rejected = 0;
  settleFailures = 0;

  of(name: string): EventCounters {
    let counters = this.events.get(name);
    if (!counters) {
      counters = new EventCounters();
      this.events.set(name, counters);
    }
    return counters;
  }

  snapshot(): ThrunStats {
    const totals = {
      dispatched: 0,
      handled: 0,
      retried: 0,
      deadLettered: 0,
      inFlight: 0,
      rejected: this.rejected,
      settleFailures: this.settleFailures,
    };
    const events: [string, EventStats][] = [];
    for (const [name, c] of this.events) {
      totals.dispatched += c.dispatched;
      totals.handled += c.handled;
      totals.retried += c.retried;
      totals.deadLettered += c.deadLettered;
      totals.inFlight += c.inFlight;
      events.push([
        name,
        {
          dispatched: c.dispatched,
          handled: c.handled,
          retried: c.retried,
          deadLettered: c.deadLettered,
          inFlight: c.inFlight,
          latency: c.latency(),
        },
      ]);
    }
    // fromEntries defines own properties, so no event name can reach a prototype.
    return { events: Object.fromEntries(events), totals };
  }
}
