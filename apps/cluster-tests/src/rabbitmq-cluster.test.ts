/**
 * The RabbitMQ transport on a three-node cluster, given every node's URL: the conformance suite (quorum
 * queues, replicated on the three nodes), then a ledger run (src/ledger.ts) with the node the producer
 * and the quorum queue's leader are on SIGKILLed mid-run and revived: publisher confirms and quorum
 * replication mean nothing acknowledged is lost; consumers move to a surviving node.
 *
 * No poison in the ledger run: dead-letter queues are classic queues (see protocol/rabbitmq.md), which
 * live on one node, and that node is the one killed here.
 */
import { fileURLToPath } from 'node:url';
import { describeTransportConformance } from '@thrun/contract/conformance';
import { rabbitmqTransport } from '@thrun/transport-rabbitmq';
import { beforeAll, describe, expect, it } from 'vitest';
import { runLedger } from './ledger.js';
import { amqpUrls, killRabbitNode, requireCluster, reviveRabbitNode, urlsFrom } from './rabbitmq-cluster.js';

const events = Number(process.env.THRUN_CLUSTER_LEDGER_EVENTS ?? 2_000);
const workerScript = fileURLToPath(new URL('./rabbitmq-ledger-worker.mjs', import.meta.url));

describeTransportConformance({
  name: 'rabbitmq cluster (quorum queues, 3 nodes)',
  factory: () => rabbitmqTransport({ urls: amqpUrls }),
  features: {
    skip: {
      peek: 'peek needs a classic queue (quorum queues move returned messages behind the others); the single-node suite covers it',
    },
  },
  hooks: { beforeAll: async () => requireCluster() },
});

describe(`RabbitMQ cluster ledger: 3 workers, ${events} events, node 1 SIGKILLed`, () => {
  beforeAll(requireCluster);

  it('nothing acknowledged is lost, nothing invented', { timeout: 600_000 }, async () => {
    const queue = `ledger-${Date.now()}`;
    // The producer (and worker 0) connect to node 1 first, the node killed.
    const producer = rabbitmqTransport({ urls: urlsFrom(1), connectTimeoutMs: 30_000 });
    try {
      const counts = await runLedger({
        name: 'rabbitmq cluster ledger',
        events,
        poisonEvery: 0,
        workers: 3,
        workerScript,
        // Worker i prefers node i: one of them loses its node and moves.
        workerConfig: (ledger) => ({
          urls: urlsFrom((Number(ledger.match(/worker-(\d+)/)?.[1] ?? 0) % 3) + 1),
          queue,
          handlerMs: 2,
          ledger,
        }),
        producer,
        queue,
        kill: () => killRabbitNode(1),
        revive: () => reviveRabbitNode(1),
        deadIds: async () => new Set(),
      });
      expect(counts.acknowledged).toBe(events);
      expect(counts.lost).toBe(0);
      expect(counts.phantom).toBe(0);
    } finally {
      await producer.close();
    }
  });
});
