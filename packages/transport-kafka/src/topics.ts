import { assertQueueName, ValidationError } from '@thrun/contract';
import type { Admin, ITopicConfig } from 'kafkajs';
import { asThrunError } from './errors.js';

/** The topic holding a queue's delayed publishes and retried copies until they are due. */
export const retryTopic = (queue: string): string => `${queue}.retry`;

/** Kafka topic names stop at 249 characters, and Thrun appends `.retry` and `.dead`. */
const MAX_QUEUE_NAME_LENGTH = 249 - '.dead.retry'.length;

export function assertKafkaQueueName(queue: string): void {
  assertQueueName(queue);
  if (queue.length > MAX_QUEUE_NAME_LENGTH) {
    throw new ValidationError(
      'invalid_queue_name',
      `[thrun:kafka] queue names are limited to ${MAX_QUEUE_NAME_LENGTH} characters on Kafka`,
    );
  }
}

export interface TopicSettings {
  /** With `false`, `ensure` does nothing: the topics must exist (or the broker auto-creates them). */
  createTopics: boolean;
  partitions: number;
  /** Absent: the broker's `default.replication.factor`. */
  replicationFactor: number | undefined;
}

/** The topics a transport made sure of: each is created (when missing) once per transport. */
export class Topics {
  private readonly ensured = new Map<string, Promise<void>>();

  constructor(
    private readonly getAdmin: () => Promise<Admin>,
    private readonly settings: TopicSettings,
  ) {}

  /** Creates the topics when missing; concurrent callers share the request, a failed one is tried again. */
  async ensure(names: readonly string[]): Promise<void> {
    if (!this.settings.createTopics) return;
    const missing = names.filter((name) => !this.ensured.has(name));
    if (missing.length > 0) {
      const created = this.create(missing).catch((cause: unknown) => {
        for (const name of missing) this.ensured.delete(name);
        throw asThrunError(cause, 'broker_error', `could not create topics ${missing.join(', ')}`);
      });
      for (const name of missing) this.ensured.set(name, created);
    }
    await Promise.all(names.map((name) => this.ensured.get(name)));
  }

  private async create(names: readonly string[]): Promise<void> {
    const { partitions, replicationFactor } = this.settings;
    await createTopicsAndWait(
      await this.getAdmin(),
      names.map((topic) => ({
        topic,
        numPartitions: partitions,
        ...(replicationFactor === undefined ? {} : { replicationFactor }),
      })),
    );
  }
}

/**
 * Creates topics (an existing one is fine) and waits until every partition has a leader. A broker
 * that just started, or a topic created a moment ago, can answer with retriable errors such as
 * UNKNOWN_TOPIC_OR_PARTITION for a while, which kafkajs' own wait does not retry: this does.
 */
async function createTopicsAndWait(admin: Admin, topics: ITopicConfig[]): Promise<void> {
  const names = topics.map((topic) => topic.topic);
  const ready = async () => {
    const { topics: described } = await admin.fetchTopicMetadata({ topics: names });
    return (
      described.length === names.length &&
      described.every((topic) => topic.partitions.length > 0 && topic.partitions.every((p) => p.leader >= 0))
    );
  };
  // Usually the topics exist already: one metadata request, and no CreateTopics at all.
  if (await ready().catch(() => false)) return;
  for (let attempt = 1; ; attempt += 1) {
    try {
      await admin.createTopics({ waitForLeaders: true, topics });
      if (await ready()) return;
    } catch (error) {
      if (attempt >= 30 || (error as { retriable?: unknown }).retriable !== true) throw error;
    }
    if (attempt >= 30) throw new Error(`topics ${names.join(', ')} have no leader yet`);
    await new Promise((resolve) => setTimeout(resolve, Math.min(50 * attempt, 500)));
  }
}
