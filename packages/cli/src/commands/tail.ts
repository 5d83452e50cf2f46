import { randomBytes } from 'node:crypto';
import { assertEventPattern, type Delivery, decodeEnvelope, matchEventPattern } from '@thrun/contract';
import type { Command } from 'commander';
import { CliError, EXIT } from '../exit-codes.js';
import { jsonLine, safeText } from '../output.js';
import { type GlobalOptions, Session } from '../session.js';
import { positiveInteger } from './arguments.js';

interface TailOptions {
  count?: number;
  timeout?: number;
}

/**
 * Live events as a consumer group of its own (`thrun-tail-<random>`), started at the end of the
 * queue (`from: 'now'`) and removed when the tail stops, so the workers' groups never lose or wait
 * for a message because of it. Needs fan-out: where groups share one backlog (Redis Lists), a tail
 * would take messages from the workers, so it refuses.
 */
export function registerTail(program: Command): void {
  program
    .command('tail')
    .description('print live events whose name matches the pattern (order.*, #), without disturbing workers')
    .argument('<pattern>', 'an event name or pattern: * one segment, # any number')
    .option('--count <n>', 'stop after n matching events', positiveInteger)
    .option('--timeout <ms>', 'stop after ms milliseconds', positiveInteger)
    .action(async (pattern: string, options: TailOptions, command: Command) => {
      assertEventPattern(pattern);
      const session = new Session(command.optsWithGlobals<GlobalOptions>());
      const transport = session.transport();
      try {
        if (!transport.capabilities.fanout) {
          throw new CliError(
            EXIT.configuration,
            `tail needs a transport whose consumer groups each get every message; on ${session.where} a tail would take messages from the workers (use Redis Streams, RabbitMQ or Kafka)`,
          );
        }
        await tail(session, pattern, options);
      } finally {
        await session.close();
      }
    });
}

async function tail(session: Session, pattern: string, options: TailOptions): Promise<void> {
  const transport = session.transport();
  const queue = session.settings.queue;
  const group = `thrun-tail-${randomBytes(4).toString('hex')}`;
  let shown = 0;
  let stop: () => void = () => {};
  const stopped = new Promise<void>((resolve) => {
    stop = resolve;
  });

  const print = (delivery: Delivery) => {
    let envelope: ReturnType<typeof decodeEnvelope>;
    try {
      envelope = decodeEnvelope(delivery.body);
    } catch (error) {
      // Poison is worth seeing too, whatever the pattern.
      const reason = error instanceof Error ? error.message : String(error);
      if (session.json) {
        process.stdout.write(
          `${jsonLine({ queue, attempt: delivery.attempt, error: reason, body: Buffer.from(delivery.body).toString('base64') })}\n`,
        );
      } else {
        process.stdout.write(`${new Date().toISOString()}  (undecodable)  ${safeText(reason)}\n`);
      }
      return true;
    }
    if (!matchEventPattern(pattern, envelope.event)) return false;
    if (session.json) {
      process.stdout.write(`${jsonLine({ queue, attempt: delivery.attempt, ...envelope })}\n`);
    } else {
      const at = envelope.meta?.timestamp ?? new Date().toISOString();
      process.stdout.write(`${safeText(at)}  ${safeText(envelope.event)}  ${jsonLine(envelope.payload)}\n`);
    }
    return true;
  };

  const subscription = await transport.consume(
    queue,
    async (delivery) => {
      if (options.count !== undefined && shown >= options.count) return; // released on close, to nobody
      if (print(delivery)) shown++;
      await delivery.ack();
      if (options.count !== undefined && shown >= options.count) stop();
    },
    { group, from: 'now', concurrency: 1 },
  );
  // The subscription is live: a test (or a person) may start publishing now.
  process.stderr.write(`tailing ${pattern} on ${queue} (${session.where}) as group ${group}\n`);
  const timer = options.timeout === undefined ? undefined : setTimeout(stop, options.timeout);
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await stopped;
  } finally {
    clearTimeout(timer);
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await subscription.close();
    await transport.removeGroup?.(queue, group);
  }
}
