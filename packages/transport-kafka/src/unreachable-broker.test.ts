import { createServer } from 'node:net';
import { TransportError } from '@thrun/contract';
import { describe, expect, it } from 'vitest';
import { kafkaTransport } from './kafka-transport.js';

/** A port on 127.0.0.1 where nothing listens (taken, then freed). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function failure(action: () => Promise<unknown>): Promise<{ error: unknown; elapsedMs: number }> {
  const startedAt = Date.now();
  try {
    await action();
  } catch (error) {
    return { error, elapsedMs: Date.now() - startedAt };
  }
  throw new Error('expected a failure');
}

// Default options throughout: the connect timeout is 3,000 ms, the retry budget about 30 s.
const connectTimeoutMs = 3_000;

describe('a broker that is down', () => {
  it('fails consume (start) within the connect timeout, naming the broker and how to start one', async () => {
    const broker = `127.0.0.1:${await freePort()}`;
    const transport = kafkaTransport({ brokers: broker });
    const { error, elapsedMs } = await failure(() => transport.consume('down-start', async (d) => d.ack()));
    expect(elapsedMs).toBeLessThan(connectTimeoutMs);
    expect(TransportError.isInstance(error)).toBe(true);
    expect((error as TransportError).code).toBe('connection_failed');
    expect((error as Error).message).toMatch(/^\[thrun:kafka\] cannot connect to /);
    expect((error as Error).message).toContain(broker);
    expect((error as Error).message).toContain('bash scripts/brokers/kafka.sh start');
    await transport.close();
  });

  it('fails publish the same way when it creates no topics, naming every bootstrap broker', async () => {
    const brokers = [`127.0.0.1:${await freePort()}`, `127.0.0.1:${await freePort()}`];
    const transport = kafkaTransport({ brokers, createTopics: false });
    const { error, elapsedMs } = await failure(() =>
      transport.publish('down-publish', [{ body: new Uint8Array([1]) }]),
    );
    expect(elapsedMs).toBeLessThan(2 * connectTimeoutMs);
    expect(TransportError.isInstance(error)).toBe(true);
    expect((error as TransportError).code).toBe('connection_failed');
    expect((error as Error).message).toContain(brokers.join(', '));
    expect((error as Error).message).toContain('bash scripts/brokers/kafka.sh start');
    // Not remembered: the next call tries again (and fails again, as fast).
    const again = await failure(() => transport.consume('down-publish', async (d) => d.ack()));
    expect(again.elapsedMs).toBeLessThan(connectTimeoutMs);
    expect((again.error as TransportError).code).toBe('connection_failed');
    await transport.close();
  });

  it('rejects a publish whose signal is already aborted at once, without trying the broker', async () => {
    const transport = kafkaTransport({ brokers: `127.0.0.1:${await freePort()}` });
    const { error, elapsedMs } = await failure(() =>
      transport.publish('down-aborted', [{ body: new Uint8Array([1]) }], { signal: AbortSignal.abort() }),
    );
    expect(elapsedMs).toBeLessThan(100);
    expect(TransportError.isInstance(error)).toBe(true);
    expect((error as TransportError).code).toBe('timeout');
    expect((error as Error).message).toMatch(/^\[thrun:kafka\] publish aborted before anything was sent/);
    await transport.close();
  });
});
