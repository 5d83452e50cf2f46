/**
 * The three-broker Kafka cluster of scripts/brokers/cluster/kafka-cluster.sh as the tests see it: its
 * brokers (THRUN_KAFKA_CLUSTER_BROKERS, in the script's order: broker n has node.id n), the leader of a
 * partition, and SIGKILL / revive of a broker, through the script.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type Admin, Kafka, logLevel } from 'kafkajs';

const run = promisify(execFile);
const script = fileURLToPath(new URL('../../../scripts/brokers/cluster/kafka-cluster.sh', import.meta.url));

export const kafkaBrokers = (process.env.THRUN_KAFKA_CLUSTER_BROKERS ?? '').split(',').filter(Boolean);

export function requireKafkaCluster(): void {
  if (kafkaBrokers.length !== 3) {
    throw new Error(
      'THRUN_KAFKA_CLUSTER_BROKERS must list the three brokers of the cluster; run through scripts/test-cluster.sh',
    );
  }
}

/** A plain kafkajs client on the cluster, for what the tests look at beside the transport. */
export const kafkaClient = (clientId: string) =>
  new Kafka({
    clientId,
    brokers: kafkaBrokers,
    connectionTimeout: 3_000,
    logLevel: logLevel.NOTHING,
    retry: { initialRetryTime: 100, maxRetryTime: 1_000, retries: 30 },
  });

/** Deletes the topics whose name passes `matches`. */
export async function deleteTopics(matches: (topic: string) => boolean): Promise<void> {
  const admin = kafkaClient('thrun-cluster-cleanup').admin();
  await admin.connect();
  try {
    const topics = (await admin.listTopics()).filter(matches);
    if (topics.length > 0) await admin.deleteTopics({ topics, timeout: 30_000 });
  } finally {
    await admin.disconnect();
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The node id (= the script's broker number) leading `partition` of `topic` now; -1 while none does. */
export async function leaderOf(admin: Admin, topic: string, partition: number): Promise<number> {
  const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
  return topics[0]?.partitions.find((p) => p.partitionId === partition)?.leader ?? -1;
}

/**
 * The node id of `groupId`'s coordinator now, as the cluster answers FindCoordinator: the broker a
 * DescribeGroups request goes to. -1 when none answered.
 */
export async function coordinatorOf(groupId: string): Promise<number> {
  const admin = kafkaClient('thrun-cluster-coordinator').admin();
  let coordinator = -1;
  admin.on(admin.events.REQUEST, ({ payload }) => {
    if (payload.apiName === 'DescribeGroups') coordinator = kafkaBrokers.indexOf(payload.broker) + 1;
  });
  await admin.connect();
  try {
    await admin.describeGroups([groupId]);
  } finally {
    await admin.disconnect();
  }
  return coordinator;
}

/**
 * Creates topics of 3 partitions and replication factor 3, then waits until each partition has a
 * leader (a loaded broker answers UNKNOWN_TOPIC_OR_PARTITION for a while, which kafkajs' own
 * `waitForLeaders` does not ride out).
 */
export async function createTopics(
  admin: Admin,
  topics: readonly string[],
  timeoutMs = 60_000,
): Promise<void> {
  await admin.createTopics({
    topics: topics.map((topic) => ({ topic, numPartitions: 3, replicationFactor: 3 })),
    waitForLeaders: false,
  });
  const deadline = Date.now() + timeoutMs;
  for (const topic of topics) {
    for (let partition = 0; partition < 3; partition += 1) {
      while ((await leaderOf(admin, topic, partition).catch(() => -1)) < 1) {
        if (Date.now() > deadline)
          throw new Error(`${topic}/${partition} has no leader after ${timeoutMs} ms`);
        await sleep(250);
      }
    }
  }
}

/** Waits until a broker other than `victim` leads `partition` of `topic`. */
export async function waitForNewLeader(
  admin: Admin,
  topic: string,
  partition: number,
  victim: number,
  timeoutMs = 60_000,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const leader = await leaderOf(admin, topic, partition).catch(() => -1);
    if (leader > 0 && leader !== victim) return leader;
    if (Date.now() > deadline) {
      throw new Error(
        `no broker but ${victim} took the lead of ${topic}/${partition} within ${timeoutMs} ms`,
      );
    }
    await sleep(250);
  }
}

/** SIGKILL of broker `n` (1-3), as a crash would. */
export const killKafkaBroker = async (n: number) => {
  await run('bash', [script, 'kill', String(n)], { env: process.env });
};

/** Starts broker `n` again on its data; resolves once it is back in the cluster. */
export const reviveKafkaBroker = async (n: number) => {
  await run('bash', [script, 'revive', String(n)], { env: process.env });
};
