import { type OutgoingMessage, PayloadTooLargeError, ThrunError } from '@thrun/contract';
import {
  type CompressionTypes,
  type ICustomPartitioner,
  type Message,
  Partitioners,
  type Producer,
  type RecordMetadata,
} from 'kafkajs';
import { asThrunError, causedBy } from './errors.js';
import { HEADER } from './headers.js';
import { warn } from './logging.js';

/** A record batch must fit the broker's `message.max.bytes`: bigger publishes go in several sends. */
const MAX_BATCH_BYTES = 900_000;

/** `sendBatch` calls for the records of one batch that kafkajs left unsent (see `Publisher.flush`). */
const MAX_SEND_ROUNDS = 5;

/**
 * kafkajs' default partitioner (murmur2 on the key, as the Java client; round-robin without a key),
 * made to choose once per record: the partition is written into the record, and asked again, the
 * partitioner returns it. kafkajs partitions a batch anew on each of its own retries
 * (`createProducerRequests` in kafkajs/src/producer/sendMessages.js), so a keyless record would move
 * to another partition, and a retry would send other records under the sequence numbers of an
 * attempt the broker may have written: the broker takes them for duplicates, acknowledges them and
 * drops them. Pinned, each partition gets the same records on every attempt.
 */
export const pinnedPartitioner: ICustomPartitioner = () => {
  const choose = Partitioners.DefaultPartitioner();
  return (args) => {
    args.message.partition ??= choose(args);
    return args.message.partition;
  };
};

interface OutboxEntry {
  topic: string;
  messages: Message[];
  bytes: number;
  resolve(): void;
  reject(error: unknown): void;
}

/**
 * Sends records with the transport's idempotent producer, `acks: -1`. After a send that was not
 * acknowledged, the producer is replaced by a new one: the broker may have written that batch, and
 * kafkajs would give its sequence numbers to the next batch, which the broker would then drop as a
 * duplicate while acknowledging it.
 *
 * Sends are coalesced: while one `sendBatch` is in flight, the messages of every `send` that arrives
 * meanwhile wait and then go together in the next one. Concurrent single-message dispatches then cost
 * one round trip per batch instead of one each (kafkajs serialises an idempotent producer's requests
 * per broker anyway). Each caller still resolves only once its own messages were acknowledged, and
 * rejects when their batch was not.
 */
export class Publisher {
  private readonly outbox: OutboxEntry[] = [];
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly getProducer: () => Promise<Producer>,
    /** Called after a send that was not acknowledged: the next send must use a new producer. */
    private readonly discardProducer: () => void,
    private readonly compression: CompressionTypes | undefined,
  ) {}

  /**
   * Resolves once the broker acknowledged every message; rejects with `PayloadTooLargeError` when it
   * refused one as too large, `TransportError` otherwise.
   */
  send = (topic: string, messages: Message[]): Promise<void> => {
    const chunks = chunkBySize(messages).map(
      (chunk) =>
        new Promise<void>((resolve, reject) => {
          this.outbox.push({ topic, messages: chunk, bytes: sizeOf(chunk), resolve, reject });
        }),
    );
    this.startFlushing();
    return Promise.all(chunks).then(() => {});
  };

  /** Resolves once every message handed to `send` so far was sent (or refused). */
  async idle(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  private startFlushing(): void {
    this.flushing ??= this.flush().finally(() => {
      this.flushing = undefined;
      // Entries pushed between the loop's last check and this callback still need a flush.
      if (this.outbox.length > 0) this.startFlushing();
    });
  }

  private async flush(): Promise<void> {
    const outbox = this.outbox;
    while (outbox.length > 0) {
      const taken: OutboxEntry[] = [outbox.shift()!];
      let bytes = taken[0]!.bytes;
      while (outbox.length > 0 && bytes + outbox[0]!.bytes <= MAX_BATCH_BYTES) {
        const entry = outbox.shift()!;
        bytes += entry.bytes;
        taken.push(entry);
      }
      const byTopic = new Map<string, Message[]>();
      for (const entry of taken) {
        const list = byTopic.get(entry.topic);
        if (list) list.push(...entry.messages);
        else byTopic.set(entry.topic, [...entry.messages]);
      }
      try {
        const client = await this.getProducer().catch((cause: unknown) => {
          throw asThrunError(cause, 'connection_failed', 'cannot connect');
        });
        await this.sendAll(client, [...byTopic]);
        for (const entry of taken) entry.resolve();
      } catch (cause) {
        // The broker may have written the batch all the same; its sequence numbers must not be
        // given to the next one (see Connection.discardProducer).
        this.discardProducer();
        for (const entry of taken) entry.reject(sendError(entry.topic, cause));
      }
    }
  }

  /**
   * Sends the records until each was acknowledged by its partition's leader. kafkajs' `sendBatch` can
   * resolve without having sent some partitions' records at all: when a request failed (its broker
   * died) and, on kafkajs' retry, the new leader of its partitions is a broker that already answered
   * for others, kafkajs skips that broker (it remembers answers per broker, not per partition:
   * `createProducerRequests` in kafkajs/src/producer/sendMessages.js). Such a partition is missing
   * from the answer: its records go again, with the same producer, so under the same sequence
   * numbers (kafkajs gave them back when the request failed), and the broker drops them if the
   * failed request was written after all.
   */
  private async sendAll(client: Producer, topicMessages: [string, Message[]][]): Promise<void> {
    let unsent = topicMessages;
    for (let round = 1; ; round += 1) {
      const answers = await client.sendBatch({
        topicMessages: unsent.map(([topic, messages]) => ({ topic, messages })),
        acks: -1,
        ...(this.compression === undefined ? {} : { compression: this.compression }),
      });
      unsent = unanswered(unsent, answers);
      if (unsent.length === 0) return;
      const partitions = unsent.flatMap(([topic, messages]) =>
        [...new Set(messages.map((message) => message.partition))].map((p) => `${topic}/${p}`),
      );
      if (round >= MAX_SEND_ROUNDS) {
        throw new Error(`kafkajs did not send the records for ${partitions.join(', ')}`);
      }
      warn(
        `kafkajs acknowledged a send without the records for ${partitions.join(', ')}: sending them again`,
      );
    }
  }
}

/** The records whose partition (pinned by `pinnedPartitioner`) is not among the answers. */
function unanswered(topicMessages: [string, Message[]][], answers: RecordMetadata[]): [string, Message[]][] {
  const answered = new Set(answers.map((answer) => `${answer.topicName}\0${answer.partition}`));
  return topicMessages.flatMap(([topic, messages]) => {
    const left = messages.filter((message) => !answered.has(`${topic}\0${message.partition}`));
    return left.length > 0 ? [[topic, left] as [string, Message[]]] : [];
  });
}

/**
 * The records of one `publish`: the immediate ones for `<queue>`, the delayed ones, stamped with
 * their due time, for `<queue>.retry`.
 */
export function toRecords(
  messages: readonly OutgoingMessage[],
  now: number,
): { immediate: Message[]; delayed: Message[] } {
  const immediate: Message[] = [];
  const delayed: Message[] = [];
  for (const message of messages) {
    const record: Message = {
      key: message.key ?? null,
      // Copy: the bytes must be the ones passed in, even if the caller reuses its buffer later.
      value: Buffer.from(message.body),
    };
    if (message.delayMs !== undefined && message.delayMs > 0) {
      record.headers = { [HEADER.dueAt]: String(now + message.delayMs) };
      delayed.push(record);
    } else {
      immediate.push(record);
    }
  }
  return { immediate, delayed };
}

function sendError(topic: string, cause: unknown): Error {
  if (!ThrunError.isInstance(cause) && causedBy(cause, 'type', 'MESSAGE_TOO_LARGE')) {
    return new PayloadTooLargeError(
      'payload_too_large',
      `[thrun:kafka] the broker refused a message to "${topic}" as too large`,
      { cause },
    );
  }
  return asThrunError(cause, 'publish_failed', `publish to "${topic}" was not acknowledged`);
}

function sizeOf(messages: Message[]): number {
  let bytes = 0;
  for (const message of messages) bytes += (message.value as Buffer | null)?.byteLength ?? 0;
  return bytes;
}

function chunkBySize(messages: Message[]): Message[][] {
  const chunks: Message[][] = [];
  let current: Message[] = [];
  let bytes = 0;
  for (const message of messages) {
    const size = (message.value as Buffer | null)?.byteLength ?? 0;
    if (current.length > 0 && bytes + size > MAX_BATCH_BYTES) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(message);
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}
