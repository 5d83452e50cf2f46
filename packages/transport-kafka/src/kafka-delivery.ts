import type { DeadLetterReason, Delivery } from '@thrun/contract';
import {
  type DeliveryOutcome,
  deadLetterCopy,
  Settlement,
  startDelivery,
} from '@thrun/contract/transport-kit';
import type { IHeaders, KafkaMessage, Message } from 'kafkajs';
import type { Outcome, QueueConsumerContext } from './consumer-context.js';
import { HEADER, textHeaders } from './headers.js';

/** Told once how each of its deliveries ended. */
export interface DeliveryOwner {
  deliveryEnded(index: number, outcome: Outcome): void;
}

/** One delivery of a main-topic message, and its settlement. */
export class KafkaDelivery implements Delivery {
  readonly queue: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly settlement = new Settlement();
  private ended = false;
  /** The key as text, decoded on first use (most handlers never read it); null until then. */
  private keyText: string | undefined | null;

  constructor(
    private readonly context: QueueConsumerContext,
    /** Told how the delivery ended, with `index`. */
    private readonly owner: DeliveryOwner,
    private readonly index: number,
    private readonly message: KafkaMessage,
    /** The record's value, copied (see `copyBodies`). */
    readonly body: Uint8Array,
    /** The key as text when the caller decoded it already (to order by it), else null. */
    key: string | undefined | null,
    readonly attempt: number,
  ) {
    this.queue = context.queue;
    this.keyText = key;
    const headers = textHeaders(message.headers);
    if (headers !== undefined) this.headers = headers;
  }

  get key(): string | undefined {
    if (this.keyText === null) this.keyText = this.message.key?.toString('utf8');
    return this.keyText;
  }

  /**
   * Runs the handler; ends when the delivery is settled (by the handler or after it), or released at
   * close. Left pending after a refusal, it is `undone`: its offset stays unresolved, and the
   * partition is read again after a backoff, so the message comes back as the next attempt.
   */
  run(): void {
    startDelivery(
      this.context.handler,
      this,
      this.settlement,
      this.retryNow,
      this.onOutcome,
      this.context.onError,
    );
  }

  private readonly retryNow = () => this.retry(0);

  private readonly onOutcome = (result: DeliveryOutcome): void => {
    if (result !== 'released') this.end(result === 'settled' ? 'done' : 'undone'); // release ends it
  };

  private end(outcome: Outcome): void {
    if (this.ended) return;
    this.ended = true;
    this.owner.deliveryEnded(this.index, outcome);
  }

  ack(): Promise<void> {
    // The offset is resolved once the run finishes; nothing to send.
    return this.settlement.settle(NOTHING_TO_SEND);
  }

  retry(delayMs = 0): Promise<void> {
    return this.settlement.settle(() => this.sendCopy(delayMs));
  }

  deadLetter(reason: DeadLetterReason): Promise<void> {
    return this.settlement.settle(async () => {
      const { queue, group } = this.context;
      const dead = deadLetterCopy(queue, reason, this.attempt);
      await this.context.ensureTopic(dead.queue);
      await this.context.send(dead.queue, [
        {
          key: this.message.key ?? null,
          value: this.message.value,
          headers: { ...dead.headers, [HEADER.failedGroup]: group },
        },
      ]);
    });
  }

  /**
   * At the drain deadline: hands the message back as the next attempt, whatever the handler does
   * later. Kafka cannot give a message back, so that is a copy, and then the offset may pass it.
   */
  async release(): Promise<void> {
    await this.settlement.settle(() => this.sendCopy(0), 'released');
    this.end('done');
  }

  private sendCopy(delayMs: number): Promise<void> {
    // A copy keeps the message's own headers (a kept dead letter's description, a producer's).
    const headers: IHeaders = {
      ...this.message.headers,
      [HEADER.group]: this.context.group,
      [HEADER.attempt]: String(this.attempt + 1),
    };
    const copy: Message = { key: this.message.key ?? null, value: this.message.value, headers };
    if (delayMs <= 0) {
      // Due now: straight back to the main topic, tagged for this group only.
      return this.context.send(this.context.queue, [copy]);
    }
    headers[HEADER.dueAt] = String(Date.now() + delayMs);
    return this.context.send(this.context.retryTopic, [copy]);
  }
}

const NOTHING_TO_SEND = () => {};
