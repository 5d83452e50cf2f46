/**
 * The Kafka transport on a three-broker KRaft cluster (replication factor 3, min.insync.replicas=2),
 * given every broker: the conformance suite, then a ledger run (src/ledger.ts) with the broker leading
 * partition 0 of the queue topic SIGKILLed mid-run and revived. The transport publishes with an
 * idempotent producer and `acks: -1` (its only mode): a publish resolves once both surviving in-sync
 * replicas have the records, so nothing acknowledged may be lost; leadership moves to a surviving
 * broker, and producer and consumers follow it. This run caught kafkajs acknowledging a batch one
 * partition of which it never sent after such a move (see Publisher in @thrun/transport-kafka).
 *
 * THRUN_CLUSTER_LEDGER_EVENTS sets the events of the run: 2,000 by default (CI), 20,000 for the full run.
 * THRUN_CLUSTER_LEDGER_KILL=coordinator kills the broker coordinating the workers' group instead (its
 * commits fail until the workers join again), and THRUN_CLUSTER_LEDGER_DOWN_MS sets how long the broker
 * stays dead after the failover (3,000 by default; the workers' kafkajs consumers run out of retries
 * and restart about 40 s after the kill).
 */
import { fileURLToPath } from 'node:url';
import { describeTransportConformance } from '@thrun/contract/conformance';
import { kafkaTransport } from '@thrun/transport-kafka';
import type { Consumer } from 'kafkajs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  coordinatorOf,
  createTopics,
  deleteTopics,
  kafkaBrokers,
  kafkaClient,
  killKafkaBroker,
  leaderOf,
  requireKafkaCluster,
  reviveKafkaBroker,
  waitForNewLeader,
} from './kafka-cluster.js';
import { runLedger } from './ledger.js';

const events = Number(process.env.THRUN_CLUSTER_LEDGER_EVENTS ?? 2_000);
const killCoordinator = process.env.THRUN_CLUSTER_LEDGER_KILL === 'coordinator';
const downMs = Number(process.env.THRUN_CLUSTER_LEDGER_DOWN_MS ?? 3_000);
const poisonEvery = 100;
const workerScript = fileURLToPath(new URL('./kafka-ledger-worker.mjs', import.meta.url));
// The broker's minimum: a member that vanished without leaving is replaced as soon as allowed.
const sessionTimeoutMs = 6_000;

describeTransportConformance({
  name: 'kafka cluster (3 brokers, replication factor 3, min.insync.replicas=2, acks -1)',
  factory: () =>
    kafkaTransport({ brokers: kafkaBrokers, partitions: 3, replicationFactor: 3, sessionTimeoutMs }),
  features: {
    // `close()` hands unsettled deliveries back at once; only a crashed process waits for its session.
    redeliveryAfterMs: 0,
  },
  hooks: {
    beforeAll: async () => requireKafkaCluster(),
    // A broker revived in the ledger run below starts faster without the suite's hundreds of partitions.
    afterAll: () => deleteTopics((topic) => topic.startsWith('conformance.')),
  },
});

/** Every id that reached `<queue>.dead`, read as it arrives by a plain kafkajs consumer. */
async function watchDeadLetters(queue: string): Promise<{ ids: Set<string>; consumer: Consumer }> {
  const ids = new Set<string>();
  const consumer = kafkaClient('thrun-ledger-dead').consumer({
    groupId: `ledger-dead-watch-${queue}`,
    sessionTimeout: sessionTimeoutMs,
    maxWaitTimeInMs: 200,
  });
  await consumer.connect();
  await consumer.subscribe({ topics: [`${queue}.dead`], fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      if (message.value) ids.add(message.value.toString('utf8'));
    },
  });
  return { ids, consumer };
}

const victimName = killCoordinator ? "the group coordinator's broker" : 'a partition leader';

describe(`Kafka cluster ledger: 3 workers, ${events} events, ${victimName} SIGKILLed`, () => {
  beforeAll(async () => requireKafkaCluster());

  it('nothing acknowledged is lost, nothing invented', { timeout: 480_000 }, async () => {
    const queue = `ledger-${Date.now()}`;
    const producer = kafkaTransport({ brokers: kafkaBrokers, partitions: 3, replicationFactor: 3 });
    const admin = kafkaClient('thrun-ledger-admin').admin();
    await admin.connect();
    // The topics exist before the workers join and the dead-letter watch subscribes.
    await createTopics(admin, [queue, `${queue}.retry`, `${queue}.dead`]);
    const dead = await watchDeadLetters(queue);
    let victim = 0;
    try {
      const counts = await runLedger({
        name: 'kafka cluster ledger',
        events,
        poisonEvery,
        workers: 3,
        workerScript,
        workerConfig: (ledger) => ({
          brokers: kafkaBrokers,
          queue,
          handlerMs: 2,
          sessionTimeoutMs,
          ledger,
        }),
        producer,
        queue,
        kill: async () => {
          victim = killCoordinator
            ? await coordinatorOf(`thrun.${queue}.default`)
            : await leaderOf(admin, queue, 0);
          if (victim < 1)
            throw new Error(
              `no broker to kill: ${killCoordinator ? 'no coordinator' : 'partition 0 has no leader'}`,
            );
          await killKafkaBroker(victim);
          const killedAt = Date.now();
          const leader = await waitForNewLeader(admin, queue, 0, victim);
          console.log(
            `[kafka cluster ledger] broker ${victim}${killCoordinator ? ' (the group coordinator)' : ''} SIGKILLed; broker ${leader} leads partition 0 ${Date.now() - killedAt} ms later`,
          );
        },
        revive: () => reviveKafkaBroker(victim),
        downMs,
        deadIds: async () => new Set(dead.ids),
      });
      expect(counts.acknowledged).toBe(events);
      expect(counts.deadLettered).toBe(events / poisonEvery);
      expect(counts.lost).toBe(0);
      expect(counts.phantom).toBe(0);
    } finally {
      await dead.consumer.disconnect().catch(() => {});
      await admin.disconnect().catch(() => {});
      await producer.close();
      await deleteTopics((topic) => topic.startsWith(queue));
    }
  });
});
