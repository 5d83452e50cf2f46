import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { decodeEnvelope, PayloadTooLargeError, type Transport } from '@thrun/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rabbitmqTransport } from './rabbitmq-transport.js';
import { amqpUrl, deleteTopology, rawConnection, text, uniqueQueue, utf8, waitFor } from './test-helpers.js';

const brokerScript = fileURLToPath(new URL('../../../scripts/brokers/rabbitmq.sh', import.meta.url));
const worker = fileURLToPath(new URL('../test/hanging-worker.mjs', import.meta.url));

const queues: string[] = [];
const transports: Transport[] = [];

function transport(options: Parameters<typeof rabbitmqTransport>[0] = {}): Transport {
  const created = rabbitmqTransport({ url: amqpUrl, drainTimeoutMs: 2000, ...options });
  transports.push(created);
  return created;
}

function queueFor(name: string): string {
  const queue = uniqueQueue(name);
  queues.push(queue);
  return queue;
}

beforeAll(async () => {
  await (await rawConnection()).close(); // fails early, saying how to start the broker
});

afterAll(async () => {
  await Promise.all(transports.map((t) => t.close({ drainTimeoutMs: 0 })));
  // The broker may have restarted: use a fresh connection for the cleanup.
  const connection = await rawConnection();
  for (const queue of queues) await deleteTopology(connection, queue);
  await connection.close();
});

describe('RabbitMQ reliability', () => {
  it('redelivers the message of a SIGKILLed worker as attempt 2', async () => {
    const queue = queueFor('sigkill');
    const child: ChildProcess = spawn(process.execPath, [worker], {
      env: { ...process.env, THRUN_AMQP_URL: amqpUrl, THRUN_TEST_QUEUE: queue },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    try {
      await waitFor(() => output.includes('subscribed'), 20_000, 'the worker to subscribe');
      await transport().publish(queue, [{ body: utf8.encode('{"event":"job","payload":{}}') }]);
      await waitFor(() => output.includes('delivered 1'), 20_000, 'the worker to receive the job');
    } finally {
      child.kill('SIGKILL');
    }
    await new Promise((resolve) => child.once('exit', resolve));

    const received: Array<{ attempt: number; body: string }> = [];
    await transport().consume(queue, async (delivery) => {
      received.push({ attempt: delivery.attempt, body: text(delivery.body) });
      await delivery.ack();
    });
    await waitFor(() => received.length === 1, 30_000, 'the redelivery');
    expect(received[0]).toEqual({ attempt: 2, body: '{"event":"job","payload":{}}' });
  });

  it('handles every confirmed message of 10,000 dispatches across a broker restart', async () => {
    const queue = queueFor('restart');
    const total = 10_000;
    const producer = transport({ connectTimeoutMs: 60_000 });
    const consumer = transport({ connectTimeoutMs: 60_000, prefetch: 200 });

    // A bystander connection: it must be cut by the restart, proving the broker really went down.
    const witness = await rawConnection();
    let witnessClosed = false;
    witness.on('error', () => {});
    witness.on('close', () => {
      witnessClosed = true;
    });

    const handled = new Map<number, number>();
    await consumer.consume(
      queue,
      async (delivery) => {
        const id = Number(text(delivery.body));
        handled.set(id, (handled.get(id) ?? 0) + 1);
        await delivery.ack();
      },
      { concurrency: 50 },
    );

    const confirmed = new Set<number>();
    let failedPublishes = 0;
    let restart: Promise<unknown> | undefined;
    const began = Date.now();
    let next = 0;
    // Ten dispatchers, one message per publish, each waiting for its confirm, paced to about 20 s in
    // all so the restart (seconds long) happens while dispatches are in flight.
    const dispatcher = async () => {
      for (let id = next++; id < total; id = next++) {
        if (!restart && id >= total * 0.2) {
          restart = promisify(execFile)('bash', [brokerScript, 'restart'], {
            env: process.env,
            timeout: 120_000,
          });
        }
        for (let tries = 1; ; tries++) {
          try {
            await producer.publish(queue, [{ body: utf8.encode(String(id)) }]);
            confirmed.add(id);
            break;
          } catch (error) {
            // Not confirmed: it may or may not be handled. Publish it again, as a dispatcher would.
            failedPublishes++;
            if (tries >= 20) throw error;
            await new Promise((resolve) => setTimeout(resolve, 250));
          }
        }
        await new Promise((resolve) => setTimeout(resolve, 15));
      }
    };
    await Promise.all(Array.from({ length: 10 }, dispatcher));
    const publishedInMs = Date.now() - began;
    await restart;

    await waitFor(() => [...confirmed].every((id) => handled.has(id)), 120_000, 'every confirmed message');
    const deliveries = [...handled.values()].reduce((sum, n) => sum + n, 0);
    const duplicates = deliveries - handled.size;
    console.log(
      `[restart] confirmed ${confirmed.size}/${total}, handled ${handled.size} distinct in ${deliveries} deliveries, ` +
        `${duplicates} duplicates, ${failedPublishes} publish calls rejected and retried, dispatching took ${publishedInMs} ms`,
    );
    expect(witnessClosed).toBe(true);
    expect(confirmed.size).toBe(total);
    expect([...confirmed].filter((id) => !handled.has(id))).toEqual([]);
  }, 300_000);

  it("rejects a message over RabbitMQ's own maximum size with a typed error", async () => {
    const queue = queueFor('broker-limit');
    // Allow more than the broker does, so the broker itself refuses (RabbitMQ 3.10: 128 MiB).
    const t = transport({ maxPayloadBytes: 256 * 1024 * 1024 });
    const error = await t
      .publish(queue, [{ body: new Uint8Array(128 * 1024 * 1024 + 1) }])
      .catch((e: unknown) => e);
    expect(PayloadTooLargeError.isInstance(error)).toBe(true);
    expect((error as Error).message).toMatch(/^\[thrun:rabbitmq\]/);
    // The transport keeps working on a fresh channel.
    await t.publish(queue, [{ body: utf8.encode('small') }]);
  }, 120_000);

  it('handles a message a plain amqplib producer sent to the queue, as a PHP or Go service would', async () => {
    const queue = queueFor('foreign');
    // The foreign service declares the queue the way the README says (durable, quorum) and sends to it.
    const foreign = await rawConnection();
    const channel = await foreign.createConfirmChannel();
    await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    const body = Buffer.from('{"event":"go_message","payload":{"text":"hello"}}');
    channel.sendToQueue(queue, body, { persistent: true, contentType: 'application/json' });
    await channel.waitForConfirms();
    await channel.close();
    await foreign.close();

    const received: Array<{ event: string; payload: unknown; attempt: number; bytes: string }> = [];
    await transport().consume(queue, async (delivery) => {
      const envelope = decodeEnvelope(delivery.body);
      received.push({
        event: envelope.event,
        payload: envelope.payload,
        attempt: delivery.attempt,
        bytes: text(delivery.body),
      });
      await delivery.ack();
    });
    await waitFor(() => received.length === 1, 10_000, 'the foreign message');
    expect(received[0]).toEqual({
      event: 'go_message',
      payload: { text: 'hello' },
      attempt: 1,
      bytes: body.toString('utf8'),
    });
  });
});
