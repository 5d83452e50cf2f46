import { ConfigurationError, type Delivery } from '@thrun/contract';
import { describe, expect, it } from 'vitest';
import { createMemoryBroker } from './memory-broker.js';
import { memoryTransport } from './memory-transport.js';

const text = (value: string) => new TextEncoder().encode(value);
const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

async function until(condition: () => boolean): Promise<void> {
  for (const started = Date.now(); !condition(); ) {
    if (Date.now() - started > 5_000) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

describe('memoryTransport', () => {
  it('rejects invalid options with ConfigurationError', async () => {
    expect(() => memoryTransport({ maxPayloadBytes: 0 })).toThrow(ConfigurationError);
    expect(() => memoryTransport({ drainTimeoutMs: -1 })).toThrow(ConfigurationError);
    const transport = memoryTransport();
    for (const concurrency of [0, 1.5, Number.NaN]) {
      const error = await transport.consume('jobs', () => {}, { concurrency }).catch((e: unknown) => e);
      expect(ConfigurationError.isInstance(error) && error.code).toBe('invalid_option');
    }
    await transport.close();
  });

  it('keeps a private broker per transport unless one is shared', async () => {
    const [a, b] = [memoryTransport(), memoryTransport()];
    const received: string[] = [];
    await b.consume('jobs', async (delivery) => {
      received.push(decode(delivery.body));
      await delivery.ack();
    });
    await a.publish('jobs', [{ body: text('not for b') }]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(received).toEqual([]);
    await Promise.all([a.close(), b.close()]);
  });

  it('hands each delivery its own bytes, so a handler writing into them cannot alter a redelivery', async () => {
    const transport = memoryTransport();
    const seen: string[] = [];
    await transport.consume('jobs', async (delivery) => {
      seen.push(decode(delivery.body));
      if (delivery.attempt === 1) {
        delivery.body.fill(0x21);
        await delivery.retry();
      } else {
        await delivery.ack();
      }
    });
    await transport.publish('jobs', [{ body: text('original') }]);
    await until(() => seen.length === 2);
    await transport.publish('peeked', [{ body: text('original'), key: 'k' }]);
    const [peeked] = await transport.peek!('peeked', 1);
    peeked!.body.fill(0x21);
    expect((await transport.peek!('peeked', 1)).map((m) => [decode(m.body), m.key])).toEqual([
      ['original', 'k'],
    ]);
    expect(seen).toEqual(['original', 'original']);
    await transport.close();
  });

  it('puts the deliveries a closing consumer released back at the front, in their order', async () => {
    const broker = createMemoryBroker();
    const [producer, stuck] = [memoryTransport({ broker }), memoryTransport({ broker })];
    const held: Delivery[] = [];
    await stuck.consume(
      'jobs',
      (delivery) => {
        held.push(delivery);
        return new Promise(() => {});
      },
      { concurrency: 3 },
    );
    await producer.publish(
      'jobs',
      ['a', 'b', 'c', 'd'].map((body) => ({ body: text(body) })),
    );
    await until(() => held.length === 3);
    await stuck.close({ drainTimeoutMs: 10 });

    const order: string[] = [];
    await producer.consume('jobs', async (delivery) => {
      order.push(`${decode(delivery.body)}${delivery.attempt}`);
      await delivery.ack();
    });
    await until(() => order.length === 4);
    expect(order).toEqual(['a2', 'b2', 'c2', 'd1']);
    // A late settlement of a released delivery changes nothing.
    await held[0]!.ack();
    expect(await producer.peek!('jobs', 10)).toEqual([]);
    await producer.close();
  });

  it('does not keep the process alive for a delayed message', async () => {
    const transport = memoryTransport();
    const before = process.getActiveResourcesInfo().filter((name) => name === 'Timeout').length;
    await transport.publish('jobs', [{ body: text('later'), delayMs: 60_000 }]);
    // An unref'd timer is not reported as an active resource.
    expect(process.getActiveResourcesInfo().filter((name) => name === 'Timeout').length).toBe(before);
    expect(await transport.purge!('jobs')).toBe(1);
    await transport.close();
  });
});
