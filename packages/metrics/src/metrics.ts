import type { InspectOptions, QueueStats, Transport } from '@thrun/contract';
import type { ThrunHooks } from '@thrun/core';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** One queue's (and group's) counts at one moment: what `Transport.inspect()` reports. */
export type QueueDepth = QueueStats;

export interface ThrunMetricsOptions {
  /** Where the metrics are registered. Default: a registry of their own. */
  registry?: Registry;
  /** Prepended to every metric name. Default: `thrun_`. */
  prefix?: string;
  /** Handler-duration histogram buckets, in seconds. */
  durationBuckets?: number[];
  /**
   * Exports the depth gauges from this transport's `inspect()` at each scrape (where
   * `capabilities.inspect` says it has one), with `inspect` as its options (queues RabbitMQ cannot
   * find by itself, say).
   */
  transport?: Transport;
  inspect?: InspectOptions;
  /**
   * Reads queue depths at each scrape instead of `transport.inspect()`. A read that fails leaves the
   * gauges empty for that scrape and is counted in `<prefix>inspection_failures_total`.
   */
  queueDepths?: () => Promise<readonly QueueDepth[]>;
  /**
   * Distinct event names labelled before the rest are counted under `event="_other"` (not a valid
   * event name). Event names come from messages, so a producer sending many names must not make the
   * metrics unbounded. Default: 1,000.
   */
  maxEventNames?: number;
}

export interface ThrunMetrics {
  /** Pass to `createThrun({ hooks })` (or call from your own hooks). */
  readonly hooks: ThrunHooks;
  readonly registry: Registry;
  /** The exposition text (Prometheus text format 0.0.4). */
  text(): Promise<string>;
  /** The exposition's `Content-Type`. */
  readonly contentType: string;
}

/** `event` for a message whose bytes did not decode into an envelope, and for names past the cap. */
export const UNDECODED_EVENT = '_undecoded';
export const OTHER_EVENT = '_other';

const DEFAULT_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/**
 * Prometheus metrics fed by core's hooks. Counters are per event and queue; the handler histogram
 * times every handler run (succeeded or failed) through the `instrument` hook, which also keeps the
 * in-flight gauge.
 */
export function thrunMetrics(options: ThrunMetricsOptions = {}): ThrunMetrics {
  const registry = options.registry ?? new Registry();
  const prefix = options.prefix ?? 'thrun_';
  const maxEventNames = options.maxEventNames ?? 1_000;
  const registers = [registry];
  const labels = ['event', 'queue'] as const;

  const dispatched = new Counter({
    name: `${prefix}events_dispatched_total`,
    help: 'Events this process published to a queue (accepted by the transport).',
    labelNames: labels,
    registers,
  });
  const handled = new Counter({
    name: `${prefix}events_handled_total`,
    help: 'Deliveries whose handlers all succeeded and were acknowledged.',
    labelNames: labels,
    registers,
  });
  const retried = new Counter({
    name: `${prefix}events_retried_total`,
    help: 'Deliveries put back for another attempt after a handler failed.',
    labelNames: labels,
    registers,
  });
  const deadLettered = new Counter({
    name: `${prefix}events_dead_lettered_total`,
    help: 'Deliveries moved to the dead-letter queue, by reason code.',
    labelNames: [...labels, 'reason'],
    registers,
  });
  const inFlight = new Gauge({
    name: `${prefix}events_in_flight`,
    help: 'Deliveries whose handlers are running now.',
    labelNames: labels,
    registers,
  });
  const duration = new Histogram({
    name: `${prefix}handler_duration_seconds`,
    help: 'Time spent running the handlers of one delivery, succeeded or failed.',
    labelNames: [...labels, 'outcome'],
    buckets: options.durationBuckets ?? DEFAULT_BUCKETS,
    registers,
  });

  const seenEvents = new Set<string>();
  const eventLabel = (name: string | undefined): string => {
    if (name === undefined) return UNDECODED_EVENT;
    if (seenEvents.has(name)) return name;
    if (seenEvents.size >= maxEventNames) return OTHER_EVENT;
    seenEvents.add(name);
    return name;
  };

  const hooks: ThrunHooks = {
    onDispatch: ({ envelope, queue }) => dispatched.inc({ event: eventLabel(envelope.event), queue }),
    onHandled: ({ envelope, queue }) => handled.inc({ event: eventLabel(envelope.event), queue }),
    onRetry: ({ envelope, queue }) => retried.inc({ event: eventLabel(envelope.event), queue }),
    onDeadLetter: ({ envelope, queue, reason }) =>
      deadLettered.inc({ event: eventLabel(envelope?.event), queue, reason: reason.code }),
    async instrument(operation, run) {
      if (operation.kind !== 'handle') return run();
      const at = { event: eventLabel(operation.name), queue: operation.queue ?? '' };
      inFlight.inc(at);
      const stop = duration.startTimer(at);
      try {
        const result = await run();
        // The worker's run yields the handlers' errors; an empty list means every handler succeeded.
        stop({ outcome: Array.isArray(result) && result.length > 0 ? 'failure' : 'success' });
        return result;
      } catch (error) {
        stop({ outcome: 'failure' });
        throw error;
      } finally {
        inFlight.dec(at);
      }
    },
  };

  const { transport } = options;
  const queueDepths =
    options.queueDepths ??
    (transport?.capabilities.inspect && transport.inspect
      ? () => transport.inspect!(options.inspect)
      : undefined);
  if (queueDepths) registerQueueGauges(registry, prefix, queueDepths);

  return {
    hooks,
    registry,
    text: () => registry.metrics(),
    contentType: registry.contentType,
  };
}

function registerQueueGauges(
  registry: Registry,
  prefix: string,
  read: () => Promise<readonly QueueDepth[]>,
): void {
  const registers = [registry];
  const failures = new Counter({
    name: `${prefix}inspection_failures_total`,
    help: 'Scrapes whose queue inspection failed (the depth gauges are empty for those scrapes).',
    registers,
    async collect() {
      await depthsOfThisScrape(); // counted before this counter is read
    },
  });
  // Both gauges are collected at once during a scrape: they share one inspection.
  let pending: Promise<readonly QueueDepth[] | undefined> | undefined;
  const depthsOfThisScrape = () => {
    pending ??= read()
      .catch(() => {
        failures.inc();
        return undefined;
      })
      .finally(() => setImmediate(() => (pending = undefined)));
    return pending;
  };

  // One gauge with a state label rather than four, so sum by (queue) gives a queue's total.
  new Gauge({
    name: `${prefix}queue_messages`,
    help: 'Messages in a queue by state (waiting, in_flight, delayed, dead), from transport inspection.',
    labelNames: ['queue', 'group', 'state'],
    registers,
    async collect() {
      const depths = await depthsOfThisScrape();
      this.reset();
      for (const depth of depths ?? []) {
        const states: [string, number | undefined][] = [
          ['waiting', depth.waiting],
          ['in_flight', depth.inFlight],
          ['delayed', depth.delayed],
          ['dead', depth.dead],
        ];
        for (const [state, value] of states) {
          if (value !== undefined) this.set({ queue: depth.queue, group: depth.group ?? '', state }, value);
        }
      }
    },
  });
  new Gauge({
    name: `${prefix}queue_consumers`,
    help: 'Consumers attached to a queue, where the broker reports them.',
    labelNames: ['queue', 'group'],
    registers,
    async collect() {
      const depths = await depthsOfThisScrape();
      this.reset();
      for (const depth of depths ?? []) {
        if (depth.consumers !== undefined)
          this.set({ queue: depth.queue, group: depth.group ?? '' }, depth.consumers);
      }
    },
  });
}
