import { randomBytes } from 'node:crypto';
import {
  ConfigurationError,
  compileEventPattern,
  decodeEnvelope,
  type Envelope,
  isEventPattern,
  type Subscription,
  type Transport,
} from '@thrun/contract';

/** One message a tail saw: the decoded envelope, or why its bytes are not one. */
export type TailEntry =
  | { at: string; queue: string; envelope: Envelope }
  | { at: string; queue: string; undecodable: string; sizeBytes: number };

/**
 * Watches a queue as a consumer group of its own that starts at "now" (`ConsumeOptions.from`), so it
 * takes nothing from the workers and sees only what is published while it runs; `stop()` deletes the
 * group (`removeGroup`) so nothing keeps collecting copies for it. Needs `capabilities.fanout`: where
 * groups share one backlog, a tail would take messages away from the workers.
 */
export async function startTail(
  transport: Transport,
  queue: string,
  pattern: string | undefined,
  onEntry: (entry: TailEntry) => void,
): Promise<{ stop(): Promise<void> }> {
  if (!transport.capabilities.fanout) {
    throw new ConfigurationError(
      'unsupported_feature',
      `[thrun:dashboard] the ${transport.name} transport has no fan-out here: a tail would take messages from the workers`,
    );
  }
  if (pattern !== undefined && !isEventPattern(pattern)) {
    throw new ConfigurationError('invalid_option', '[thrun:dashboard] not an event pattern');
  }
  const matches = pattern ? compileEventPattern(pattern) : () => true;
  const group = `thrun-tail-${randomBytes(6).toString('hex')}`;
  const subscription: Subscription = await transport.consume(
    queue,
    async (delivery) => {
      const at = new Date().toISOString();
      try {
        const envelope = decodeEnvelope(delivery.body);
        if (matches(envelope.event)) onEntry({ at, queue, envelope });
      } catch (error) {
        if (!pattern) {
          const undecodable = error instanceof Error ? error.message : String(error);
          onEntry({ at, queue, undecodable, sizeBytes: delivery.body.byteLength });
        }
      }
      await delivery.ack(); // this group's copy only
    },
    { group, concurrency: 8, from: 'now' },
  );
  let stopped: Promise<void> | undefined;
  return {
    stop: () => {
      stopped ??= (async () => {
        await subscription.close();
        await transport.removeGroup?.(queue, group);
      })();
      return stopped;
    },
  };
}
