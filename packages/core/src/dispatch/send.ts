import type { Transport } from '@thrun/contract';
import { callHook, type ThrunHooks } from '../hooks.js';
import type { ThrunLogger } from '../logger.js';
import type { StatsCollector } from '../stats.js';
import type { PreparedEvent } from './envelope.js';

/** What publishing needs from the bus. */
export interface SendSettings {
  readonly transport: Transport;
  readonly hooks: ThrunHooks;
  readonly stats: StatsCollector;
  readonly logger: ThrunLogger;
}

/**
 * Publishes prepared events with one `transport.publish` call per queue, the queues in parallel, in
 * the order given within each queue. A call that carries one event is wrapped in the `instrument`
 * hook (one of several is not: one span could not stand for them all). Counts and reports
 * `onDispatch` only once every queue accepted its events; rejects with the first transport failure.
 */
export async function sendEvents(
  settings: SendSettings,
  events: readonly PreparedEvent[],
  signal: AbortSignal | undefined,
): Promise<void> {
  const { transport, hooks } = settings;
  const byQueue = new Map<string, PreparedEvent[]>();
  for (const event of events) {
    const list = byQueue.get(event.queue);
    if (list) list.push(event);
    else byQueue.set(event.queue, [event]);
  }
  const publishOptions = signal ? { signal } : undefined;
  await Promise.all(
    [...byQueue].map(([queue, items]) => {
      const publish = () =>
        transport.publish(
          queue,
          items.map((event) => event.message),
          publishOptions,
        );
      const first = items[0]!;
      return hooks.instrument && items.length === 1
        ? hooks.instrument(
            { kind: 'dispatch', name: first.envelope.event, envelope: first.envelope, queue, attempt: 1 },
            publish,
          )
        : publish();
    }),
  );
  for (const { envelope, queue } of events) {
    settings.stats.of(envelope.event).dispatched++;
    if (hooks.onDispatch) callHook(hooks, 'onDispatch', { envelope, queue }, settings.logger);
  }
}
