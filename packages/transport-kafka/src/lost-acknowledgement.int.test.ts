import { connect, createServer, type Server, type Socket } from 'node:net';
import type { Transport } from '@thrun/contract';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kafkaTransport } from './kafka-transport.js';
import { assertBrokerReachable, brokers, decode, text, uniqueQueue, waitFor } from './testing/broker.js';

const PRODUCE_API_KEY = 0;

/**
 * A TCP proxy to the broker that can lose the broker's answer to one Produce request: the request
 * reaches the broker, which writes the records, but the connection breaks before the answer gets
 * back, as when a broker stops right after a write. Until `reopen`, it then refuses every new
 * connection, so the producer's retries fail too and the publish is rejected.
 */
class AnswerLosingProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private loseNextProduceAnswer = false;
  private refusing = false;
  port = 0;

  async start(): Promise<void> {
    const [host = '127.0.0.1', port = '9192'] = brokers[0]!.split(':');
    this.server = createServer((client) => {
      if (this.refusing) {
        client.resetAndDestroy();
        return;
      }
      const upstream = connect({ host, port: Number(port) });
      this.track(client);
      this.track(upstream);
      const losing = new Set<number>();
      onFrames(client, (frame) => {
        if (this.loseNextProduceAnswer && frame.readInt16BE(4) === PRODUCE_API_KEY) {
          this.loseNextProduceAnswer = false;
          losing.add(frame.readInt32BE(8));
        }
        upstream.write(frame);
      });
      onFrames(upstream, (frame) => {
        if (losing.has(frame.readInt32BE(4))) {
          // The broker answered, so it wrote the records: the producer never hears of it.
          this.refusing = true;
          client.resetAndDestroy();
          upstream.destroy();
          return;
        }
        client.write(frame);
      });
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
  }

  loseTheNextProduceAnswer(): void {
    this.loseNextProduceAnswer = true;
  }

  reopen(): void {
    this.refusing = false;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server?.close(resolve));
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('error', () => {});
    socket.once('close', () => this.sockets.delete(socket));
  }
}

/** Calls `onFrame` with each whole Kafka frame (4-byte size, then the request or response). */
function onFrames(socket: Socket, onFrame: (frame: Buffer) => void): void {
  let pending: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= 4 && pending.length >= 4 + pending.readInt32BE(0)) {
      const size = 4 + pending.readInt32BE(0);
      onFrame(pending.subarray(0, size));
      pending = pending.subarray(size);
    }
  });
}

const proxy = new AnswerLosingProxy();
let throughProxy: Transport;
let direct: Transport;

beforeAll(async () => {
  await assertBrokerReachable();
  await proxy.start();
  // Every connection, the advertised broker's too, goes through the proxy.
  const kafka = new Kafka({
    brokers: [`127.0.0.1:${proxy.port}`],
    logLevel: logLevel.NOTHING,
    socketFactory: ({ onConnect }) => connect({ host: '127.0.0.1', port: proxy.port }, onConnect),
  });
  // A short retry budget, so that the publish whose answer was lost is rejected within the test.
  throughProxy = kafkaTransport({
    kafka,
    partitions: 1,
    retry: { retries: 2, initialRetryTime: 50, maxRetryTime: 100 },
  });
  direct = kafkaTransport({ brokers, partitions: 1 });
});
afterAll(async () => {
  await throughProxy?.close({ drainTimeoutMs: 1_000 });
  await direct?.close({ drainTimeoutMs: 1_000 });
  await proxy.stop();
});

describe('a publish whose acknowledgement was lost', () => {
  it('is rejected, and the next acknowledged publish is written', { timeout: 60_000 }, async () => {
    const queue = uniqueQueue('lost-ack');
    await throughProxy.publish(queue, [{ body: text('before') }]);

    proxy.loseTheNextProduceAnswer();
    // Written by the broker, but not acknowledged: the caller hears of a failure (and a duplicate
    // later is allowed, at least once).
    await expect(throughProxy.publish(queue, [{ body: text('unacknowledged') }])).rejects.toThrow();
    proxy.reopen();

    // The same number of records to the same partition as the rejected publish: were it sent with the
    // rejected one's sequence numbers, the broker would take it for a duplicate and drop it.
    await throughProxy.publish(queue, [{ body: text('after') }]);

    const handled = new Set<string>();
    const subscription = await direct.consume(
      queue,
      async (delivery) => {
        handled.add(decode(delivery.body));
        await delivery.ack();
      },
      { concurrency: 1 },
    );
    await waitFor(() => handled.has('after'), 30_000, 'the acknowledged publish to be delivered').catch(
      (error: Error) => {
        throw new Error(`${error.message}; delivered: ${[...handled].join(', ')}`);
      },
    );
    await subscription.close();
    expect(handled).toEqual(new Set(['before', 'unacknowledged', 'after']));
  });
});
