import {
  type DecodedDeadLetter,
  deadLetterQueueName,
  decodeDeadLetter,
  decodeEnvelope,
  type Envelope,
  isValidDeadLetterRecord,
  type Subscription,
  type Transport,
} from '@thrun/contract';

/** A reply a worker dispatched, as the harness read it off the reply queue. */
export interface Reply {
  envelope: Envelope;
  /** The reply's payload, for the common members. */
  id: string | undefined;
  worker: string | undefined;
  attempt: number | undefined;
  /** The worker's `meta.timestamp` in epoch ms, else the time the harness read it. */
  at: number;
  receivedAt: number;
}

/** A dead letter, as read off `<queue>.dead`, with what is wrong with its description. */
export interface ObservedDeadLetter {
  queue: string;
  letter: DecodedDeadLetter | undefined;
  /** The bytes as stored, for letters that could not be decoded. */
  raw: Uint8Array;
  problems: string[];
  receivedAt: number;
}

const HARNESS_GROUP = 'conformance-harness';
/**
 * Dead letters are read as the dead queue's default group: on RabbitMQ a dead letter goes to the
 * queue `q.dead` itself (protocol/rabbitmq.md), which only that group consumes.
 */
const DEAD_LETTER_GROUP = 'default';

/**
 * Reads everything the workers put on the wire: replies, dead letters. Replies that are not valid
 * envelopes are kept as problems, so every scenario fails on them.
 */
export class Observer {
  readonly replies: Reply[] = [];
  readonly deadLetters: ObservedDeadLetter[] = [];
  /** Replies that were not envelopes, or lacked the members every reply carries. */
  readonly invalidReplies: string[] = [];
  private readonly subscriptions: Subscription[] = [];
  private readonly waiters = new Set<() => void>();

  constructor(private readonly transport: Transport) {}

  async observeReplies(queue: string): Promise<void> {
    const subscription = await this.transport.consume(
      queue,
      async (delivery) => {
        this.recordReply(delivery.body);
        await delivery.ack();
      },
      { group: HARNESS_GROUP, concurrency: 16 },
    );
    this.subscriptions.push(subscription);
  }

  async observeDeadLetters(queue: string): Promise<void> {
    const subscription = await this.transport.consume(
      deadLetterQueueName(queue),
      async (delivery) => {
        this.recordDeadLetter(queue, delivery.body, delivery.headers);
        await delivery.ack();
      },
      { group: DEAD_LETTER_GROUP, concurrency: 16 },
    );
    this.subscriptions.push(subscription);
  }

  /** Resolves with the first value `find` returns that is not undefined, or rejects after `timeoutMs`. */
  waitFor<T>(find: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    const found = find();
    if (found !== undefined) return Promise.resolve(found);
    return new Promise<T>((resolve, reject) => {
      const check = () => {
        const value = find();
        if (value === undefined) return;
        finish();
        resolve(value);
      };
      const finish = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`no ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.add(check);
    });
  }

  repliesFor(id: string, event?: string): Reply[] {
    return this.replies.filter(
      (reply) => reply.id === id && (event === undefined || reply.envelope.event === event),
    );
  }

  /** The dead letters whose original bytes are `body`, exactly. */
  deadLettersOf(body: Uint8Array): ObservedDeadLetter[] {
    const wanted = Buffer.from(body);
    return this.deadLetters.filter(
      (dead) => dead.letter !== undefined && wanted.equals(dead.letter.originalBody),
    );
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.subscriptions.map((subscription) => subscription.close()));
  }

  private recordReply(body: Uint8Array): void {
    const receivedAt = Date.now();
    let envelope: Envelope;
    try {
      envelope = decodeEnvelope(body);
    } catch (error) {
      this.invalidReplies.push(`a reply is not a valid envelope: ${(error as Error).message}`);
      this.notify();
      return;
    }
    const { payload, meta } = envelope;
    const problems = replyProblems(envelope);
    if (problems.length > 0)
      this.invalidReplies.push(`${envelope.event} ${JSON.stringify(payload.id)}: ${problems.join('; ')}`);
    const stamped = typeof meta?.timestamp === 'string' ? Date.parse(meta.timestamp) : Number.NaN;
    this.replies.push({
      envelope,
      id: typeof payload.id === 'string' ? payload.id : undefined,
      worker: typeof payload.worker === 'string' ? payload.worker : undefined,
      attempt: typeof payload.attempt === 'number' ? payload.attempt : undefined,
      at: Number.isFinite(stamped) ? stamped : receivedAt,
      receivedAt,
    });
    this.notify();
  }

  private recordDeadLetter(
    queue: string,
    raw: Uint8Array,
    headers: Readonly<Record<string, string>> | undefined,
  ) {
    const problems: string[] = [];
    let letter: DecodedDeadLetter | undefined;
    try {
      letter = decodeDeadLetter({ body: raw, headers });
      // The description, whatever its form, must be what the schema says: check it as a record.
      const record = {
        queue: letter.queue,
        error: letter.error,
        attempts: letter.attempts,
        failed_at: letter.failed_at,
        body_base64: Buffer.from(letter.originalBody).toString('base64'),
      };
      if (!isValidDeadLetterRecord(record))
        problems.push('its description breaks schemas/dead-letter.schema.json');
    } catch (error) {
      problems.push(`not a dead letter: ${(error as Error).message}`);
    }
    this.deadLetters.push({ queue, letter, raw, problems, receivedAt: Date.now() });
    this.notify();
  }

  private notify(): void {
    for (const check of [...this.waiters]) check();
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** What every reply must carry (protocol/conformance.md §3), beyond being a valid envelope. */
function replyProblems(envelope: Envelope): string[] {
  const problems: string[] = [];
  const { meta, payload } = envelope;
  if (meta === undefined) problems.push('no meta');
  else {
    if (typeof meta.event_id !== 'string' || !UUID.test(meta.event_id))
      problems.push('meta.event_id is not a UUID');
    if (typeof meta.timestamp !== 'string' || Number.isNaN(Date.parse(meta.timestamp))) {
      problems.push('meta.timestamp is not a time');
    }
    if (typeof meta.source !== 'string' || meta.source === '') problems.push('meta.source is empty');
  }
  if (typeof payload.id !== 'string') problems.push('payload.id is not a string');
  if (typeof payload.worker !== 'string') problems.push('payload.worker is not a string');
  if (!Number.isSafeInteger(payload.attempt) || (payload.attempt as number) < 1) {
    problems.push('payload.attempt is not an integer ≥ 1');
  }
  return problems;
}
