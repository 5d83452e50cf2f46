import type { DeliveryHandler } from '@thrun/contract';
import { ReplyError } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { Consumer, type Fetched, type MessageSource } from './consumer.js';
import { text, waitFor } from './test-support/redis.js';

/** A settlement Redis has not answered yet: the test decides when, and how, it answers. */
interface PendingReply {
  body: string;
  confirm(): void;
  fail(error: Error): void;
}

/**
 * A source whose every ack waits until the test answers it, so a test can see what the consumer does
 * while Redis has not replied. It hands out the messages it is given, at most `max` per fetch, and
 * blocks a fetch when it has none (as a blocking read does) until it gets more or the consumer closes.
 */
class HeldRepliesSource implements MessageSource {
  readonly acks: PendingReply[] = [];
  /** Every message handed out, in order, as `body#attempt`. */
  readonly handedOut: string[] = [];
  readonly released: { started: string[]; waiting: string[] }[] = [];
  readonly tickIntervalMs = 60_000;
  private queued: Fetched[] = [];
  private wakeFetch: (() => void) | undefined;

  offer(...bodies: string[]): void {
    this.queued.push(...bodies.map((body) => ({ body: Buffer.from(body), attempt: 1 })));
    this.wakeFetch?.();
  }

  async fetch(max: number): Promise<Fetched[]> {
    if (this.queued.length === 0) {
      await new Promise<void>((resolve) => {
        this.wakeFetch = resolve;
      });
      this.wakeFetch = undefined;
    }
    const taken = this.queued.splice(0, max);
    this.handedOut.push(...taken.map((m) => `${m.body.toString()}#${m.attempt}`));
    return taken;
  }

  ack(message: Fetched): Promise<void> {
    return new Promise((resolve, reject) => {
      this.acks.push({ body: message.body.toString(), confirm: resolve, fail: reject });
    });
  }

  async retry(): Promise<undefined> {
    throw new Error('not expected in these tests');
  }

  async deadLetter(): Promise<void> {
    throw new Error('not expected in these tests');
  }

  async release(started: Fetched[], waiting: Fetched[]): Promise<void> {
    const bodies = (messages: Fetched[]) => messages.map((m) => m.body.toString());
    this.released.push({ started: bodies(started), waiting: bodies(waiting) });
  }

  async tick(): Promise<void> {}

  interrupt(): void {
    this.wakeFetch?.();
  }

  async dispose(): Promise<void> {}
}

const consumers: Consumer[] = [];
afterEach(async () => {
  await Promise.all(consumers.splice(0).map((consumer) => consumer.close(0)));
});

function start(
  source: MessageSource,
  handler: DeliveryHandler,
  settings: { concurrency: number; prefetch: number },
): Consumer {
  const consumer = new Consumer(source, handler, { queue: 'jobs', settleRetryMs: 0, ...settings });
  consumers.push(consumer);
  consumer.start();
  return consumer;
}

const bodies = (n: number) => Array.from({ length: n }, (_, i) => `m${i}`);

/** Turns of the event loop in which a consumer that means to fetch or deliver more would have. */
const idleTurns = () => new Promise((resolve) => setTimeout(resolve, 50));

describe('Consumer at concurrency 1 with messages read ahead', () => {
  it('starts the next message once a handler asked for its ack, before Redis replied, in fetch order', async () => {
    const source = new HeldRepliesSource();
    source.offer(...bodies(5));
    const started: string[] = [];
    let running = 0;
    let mostRunning = 0;
    start(
      source,
      async (delivery) => {
        started.push(text(delivery.body));
        mostRunning = Math.max(mostRunning, ++running);
        await Promise.resolve();
        running -= 1;
        await delivery.ack();
      },
      { concurrency: 1, prefetch: 20 },
    );

    // Every ack is asked for while none has been answered: the handlers did not wait for the replies.
    await waitFor(() => source.acks.length === 5);
    expect(started).toEqual(bodies(5));
    expect(source.acks.map((ack) => ack.body)).toEqual(bodies(5));
    // Up to its ack, a handler still had the slot to itself.
    expect(mostRunning).toBe(1);
  });

  it('keeps a message whose ack Redis has not confirmed within prefetch', async () => {
    const source = new HeldRepliesSource();
    source.offer(...bodies(10));
    start(source, (delivery) => delivery.ack(), { concurrency: 1, prefetch: 4 });

    await waitFor(() => source.acks.length === 4);
    await idleTurns();
    expect(source.handedOut).toHaveLength(4);

    for (const ack of source.acks.splice(0)) ack.confirm();
    await waitFor(() => source.acks.length === 4);
    expect(source.handedOut).toHaveLength(8);
  });

  it('close waits for the acks Redis has not confirmed, and releases none of them', async () => {
    const source = new HeldRepliesSource();
    source.offer(...bodies(3));
    const consumer = start(source, (delivery) => delivery.ack(), { concurrency: 1, prefetch: 20 });
    await waitFor(() => source.acks.length === 3);

    let closed = false;
    const closing = consumer.close(60_000).then(() => {
      closed = true;
    });
    await idleTurns();
    expect(closed).toBe(false);

    for (const ack of source.acks) ack.confirm();
    await closing;
    expect(source.released).toEqual([{ started: [], waiting: [] }]);
  });

  it('a failed ack leaves its message held and brings it back as the next attempt, after the others', async () => {
    const source = new HeldRepliesSource();
    source.offer(...bodies(3));
    const seen: string[] = [];
    start(
      source,
      async (delivery) => {
        seen.push(`${text(delivery.body)}#${delivery.attempt}`);
        await delivery.ack();
      },
      { concurrency: 1, prefetch: 20 },
    );
    await waitFor(() => source.acks.length === 3);

    // Redis answers the first two with an error (one batched reply, say), the third with success.
    const [first, second, third] = source.acks.splice(0);
    first!.fail(new ReplyError('ERR refused'));
    second!.fail(new ReplyError('ERR refused'));
    third!.confirm();

    await waitFor(() => seen.length === 5);
    expect(seen.slice(0, 3)).toEqual(['m0#1', 'm1#1', 'm2#1']);
    expect(seen.slice(3).sort()).toEqual(['m0#2', 'm1#2']);
    // The redeliveries came from what this consumer held, not from a new fetch.
    expect(source.handedOut).toEqual(['m0#1', 'm1#1', 'm2#1']);
    await waitFor(() => source.acks.length === 2);
    expect(source.acks.map((ack) => ack.body).sort()).toEqual(['m0', 'm1']);
  });
});
