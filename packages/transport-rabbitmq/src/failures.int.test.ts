/**
 * What the README promises beyond the conformance kit, against the real broker: a retry or dead-letter
 * republish the broker refuses, a foreign producer publishing to the `thrun.<queue>` exchange, and
 * the `publishWindow` bound. The broker is made to refuse with a real policy (max-length 0,
 * reject-publish) set through scripts/brokers/rabbitmq.sh, not with a mocked channel.
 */
import { type Delivery, decodeDeadLetter, TransportError } from '@thrun/contract';
import type { ChannelModel, ConfirmChannel } from 'amqplib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  ctl,
  rawConnection,
  refuseQueuePublishes,
  regexQuoted,
  testTopology,
  text,
  utf8,
  waitFor,
} from './test-helpers.js';

let raw: ChannelModel;
const { transport, queueFor, closeTransports, deleteQueues } = testTopology();
const policies: string[] = [];

async function refusePublishes(name: string, pattern: string): Promise<void> {
  policies.push(name);
  await refuseQueuePublishes(name, pattern);
}

async function acceptPublishes(name: string): Promise<void> {
  await ctl('clear_policy', name);
  policies.splice(policies.indexOf(name), 1);
}

beforeAll(async () => {
  raw = await rawConnection();
});
afterEach(async () => {
  await closeTransports();
  for (const name of policies.splice(0)) await ctl('clear_policy', name).catch(() => {});
});
afterAll(async () => {
  await deleteQueues(raw);
  await raw.close();
});

describe('a republish the broker refuses', () => {
  it('makes deadLetter() reject and runs the original again as the next attempt, after a backoff', async () => {
    const queue = queueFor('dead-refused');
    const policy = `${queue}-refuse-dead`;
    await refusePublishes(policy, `^${regexQuoted(queue)}\\.dead$`);
    const t = transport();
    const attempts: number[] = [];
    const at: number[] = [];
    const errors: unknown[] = [];
    let deadLettered = false;
    await t.consume(queue, async (delivery) => {
      attempts.push(delivery.attempt);
      at.push(Date.now());
      try {
        await delivery.deadLetter({ code: 'refused_check', message: 'to the dead queue' });
        deadLettered = true;
      } catch (error) {
        errors.push(error);
      }
    });
    await t.publish(queue, [{ body: utf8.encode('keep me') }]);
    await waitFor(() => errors.length >= 1, 15_000, 'the refused dead-letter');
    await acceptPublishes(policy);
    await waitFor(() => deadLettered, 15_000, 'the dead-letter once the broker accepts again');

    const error = errors[0];
    expect(TransportError.isInstance(error) && error.code).toBe('publish_failed');
    expect(String((error as Error).message)).toMatch(/^\[thrun:rabbitmq\] /);
    // Each failure was followed by a delivery of the next attempt, never at once: a refusal backs off
    // (100 ms doubling, jittered down to half), so it cannot turn into a loop.
    expect(attempts).toEqual(Array.from({ length: errors.length + 1 }, (_, i) => i + 1));
    for (let i = 1; i < at.length; i++) expect(at[i]! - at[i - 1]!).toBeGreaterThanOrEqual(45);
    const records = (await t.peek!(`${queue}.dead`, 10)).map((m) => decodeDeadLetter(m));
    expect(records).toHaveLength(1);
    expect(text(records[0]!.originalBody)).toBe('keep me');
    expect(records[0]!.error).toEqual({ code: 'refused_check', message: 'to the dead queue' });
  });

  it('makes retry(delayMs) reject and runs the original again after a backoff; a later retry waits its delay', async () => {
    const queue = queueFor('retry-refused', [':retry:1000']);
    const policy = `${queue}-refuse-retry`;
    await refusePublishes(policy, `^${regexQuoted(queue)}:retry:`);
    const t = transport();
    const seen: { attempt: number; at: number }[] = [];
    const errors: unknown[] = [];
    let retriedAt = 0;
    await t.consume(queue, async (delivery: Delivery) => {
      seen.push({ attempt: delivery.attempt, at: Date.now() });
      if (retriedAt > 0) return delivery.ack();
      try {
        const askedAt = Date.now(); // the delay counts from the request, not from its confirm
        await delivery.retry(1_000);
        retriedAt = askedAt;
      } catch (error) {
        errors.push(error);
      }
    });
    await t.publish(queue, [{ body: utf8.encode('retry me') }]);
    await waitFor(() => errors.length >= 1, 15_000, 'the refused retry');
    await acceptPublishes(policy);
    await waitFor(
      // Every refused attempt, the accepted one, and the copy it scheduled.
      () => retriedAt > 0 && seen.length === errors.length + 2,
      15_000,
      'the accepted retry coming back',
    );

    expect(TransportError.isInstance(errors[0]) && (errors[0] as TransportError).code).toBe('publish_failed');
    expect(seen.map((s) => s.attempt)).toEqual(Array.from({ length: errors.length + 2 }, (_, i) => i + 1));
    // The accepted retry was held for its delay (rounded up to its bucket, never early).
    expect(seen.at(-1)!.at - retriedAt).toBeGreaterThanOrEqual(1_000 - 10);
  });
});

describe('a foreign producer', () => {
  it('publishing to the thrun.<queue> exchange reaches every group, byte for byte, as attempt 1', async () => {
    const queue = queueFor('foreign', [':audit']);
    const t = transport();
    const seen: { group: string; body: string; attempt: number }[] = [];
    for (const group of ['default', 'audit']) {
      await t.consume(
        queue,
        async (delivery) => {
          seen.push({ group, body: text(delivery.body), attempt: delivery.attempt });
          await delivery.ack();
        },
        { group },
      );
    }
    const body = '{"event":"go_message","payload":{"text":"hello"}}';
    const channel = await raw.createConfirmChannel();
    channel.publish(`thrun.${queue}`, '', Buffer.from(body), { persistent: true });
    await channel.waitForConfirms();
    await channel.close();
    await waitFor(() => seen.length === 2, 15_000, 'a copy for each group');
    expect(seen.sort((a, b) => a.group.localeCompare(b.group))).toEqual([
      { group: 'audit', body, attempt: 1 },
      { group: 'default', body, attempt: 1 },
    ]);
  });
});

describe('publishWindow', () => {
  it('bounds the unconfirmed messages on the wire, across concurrent callers', async () => {
    const publishWindow = 8;
    let unconfirmed = 0;
    let peak = 0;
    // The real broker and a real confirm channel; only counted, as they pass, on their way out and back.
    const connection = async () => {
      const model = await rawConnection();
      const createConfirmChannel = model.createConfirmChannel.bind(model);
      model.createConfirmChannel = async () => {
        const channel: ConfirmChannel = await createConfirmChannel();
        const publish = channel.publish.bind(channel);
        channel.publish = (exchange, routingKey, content, options, callback) => {
          unconfirmed += 1;
          peak = Math.max(peak, unconfirmed);
          return publish(exchange, routingKey, content, options, (error, ok) => {
            unconfirmed -= 1;
            callback?.(error, ok);
          });
        };
        return channel;
      };
      return model;
    };
    const queue = queueFor('window');
    const t = transport({ connection, publishWindow });
    await Promise.all(
      Array.from({ length: 10 }, (_, caller) =>
        t.publish(
          queue,
          Array.from({ length: 50 }, (_, i) => ({ body: utf8.encode(`${caller}-${i}`) })),
        ),
      ),
    );
    expect(unconfirmed).toBe(0);
    expect(peak).toBe(publishWindow); // filled, and never more
    const channel = await raw.createChannel();
    expect((await channel.checkQueue(queue)).messageCount).toBe(500);
    await channel.close();
  });
});
