import { createHash, randomBytes } from 'node:crypto';
import {
  Cluster,
  inOneWrite,
  type RedisClient,
  type RedisCommand,
  type ReplicaWait,
  runScript,
  runScriptReplicated,
  sendNow,
  writeCommands,
  writeReplicated,
} from './connection.js';
import type { Fetched, MessageSource } from './consumer.js';
import type { QueueKeys } from './keys.js';
import {
  DELAYED_ID_LENGTH,
  listAckScript,
  listDeadLetterScript,
  listFetchScript,
  listReapScript,
  listReleaseScript,
  listRetryScript,
  type Script,
  streamClaimScript,
  streamDeadLetterScript,
  streamReclaimScript,
  streamRetryScript,
  streamTrimScript,
} from './scripts.js';

interface ScriptingPipeline {
  evalshaBuffer(...args: (string | Buffer | number)[]): unknown;
}

export interface SourceContext {
  client: RedisClient;
  /** A connection of its own: a blocking read stalls every other command on its connection. */
  blocking: RedisClient;
  keys: QueueKeys;
  consumerId: string;
  visibilityTimeoutMs: number;
  blockTimeoutMs: number;
  /** Replicas that must confirm each settlement (`WAIT`); none by default. */
  replicaWait: ReplicaWait;
}

export function delayedMember(body: Buffer): Buffer {
  const id = randomBytes(DELAYED_ID_LENGTH / 2).toString('hex');
  return Buffer.concat([Buffer.from(`${id}:`), body]);
}

/**
 * A way to abandon a blocking read on close. Disconnecting the blocking connection ends the read on a
 * plain `Redis`; a `Cluster` whose retry strategy keeps reconnecting may instead hold the command for a
 * reconnection that never comes, so the read is also raced against this. What the abandoned read moved
 * (into the landing list, or to this consumer in a group) is handed back by release or the lease.
 */
function interruption(): { race<T>(read: Promise<T>): Promise<T>; interrupt(): void } {
  let interrupt = () => {};
  const interrupted = new Promise<never>((_, reject) => {
    interrupt = () => reject(new Error('[thrun:redis] blocking read interrupted by close'));
  });
  interrupted.catch(() => {});
  return { race: (read) => Promise.race([read, interrupted]), interrupt };
}

/** How long a blocking read may wait: until the next delayed message is due, within the block timeout. */
function blockFor(nextDueMs: number, blockTimeoutMs: number): number {
  return nextDueMs < 0 ? blockTimeoutMs : Math.max(10, Math.min(nextDueMs, blockTimeoutMs));
}

function toNumber(value: unknown): number {
  return typeof value === 'number' ? value : Number(String(value));
}

/**
 * Lists mode: the queue is a list that producers LPUSH to; each consumer moves messages into its own
 * processing list (one script per batch, BLMOVE when idle) and removes them when settled.
 */
export function listSource(context: SourceContext): MessageSource {
  const { client, blocking, keys, consumerId, replicaWait } = context;
  const processing = keys.processing(consumerId);
  const settleScript = (script: Script, scriptKeys: string[], args: (string | Buffer | number)[]) =>
    runScriptReplicated(client, script, scriptKeys, args, replicaWait, `settle in ${keys.queue}`);
  const lease = String(context.visibilityTimeoutMs);
  const crossSlot = client instanceof Cluster;
  const blockingRead = interruption();
  // list-ack takes many bodies: the acks of one turn are one script call, as XACK is in Streams mode.
  // A large body on its first attempt is acknowledged by a bare LREM instead, which protocol/redis.md
  // allows (it has no attempts field yet): a script copies each argument, about 1.4 ms a megabyte of
  // Redis's time, where LREM only compares.
  const acknowledge = batched<Fetched>((messages) => {
    const scripted: Buffer[] = [];
    const plain: RedisCommand[] = [];
    for (const { body, attempt } of messages) {
      if (attempt === 1 && body.length >= PLAIN_ACK_BYTES) plain.push(['lrem', processing, -1, body]);
      else scripted.push(body);
    }
    return Promise.all([
      scripted.length > 0 && settleScript(listAckScript, [processing, keys.attempts], scripted),
      plain.length > 0 && writeCommands(client, plain, replicaWait, `settle in ${keys.queue}`),
    ]);
  });

  const landing = keys.landing(consumerId);
  const fetchKeys = [keys.queue, processing, keys.attempts, keys.delayed, keys.consumers, landing];
  const fetchArgs = (max: number) => [max, consumerId, lease];

  function parse(reply: unknown): { items: Fetched[]; nextDueMs: number } {
    const [flat, nextDue] = reply as [unknown[], unknown];
    const items: Fetched[] = [];
    for (let i = 0; i < flat.length; i += 2) {
      items.push({ body: flat[i] as Buffer, attempt: toNumber(flat[i + 1]) });
    }
    return { items, nextDueMs: toNumber(nextDue) };
  }

  async function take(max: number): Promise<{ items: Fetched[]; nextDueMs: number }> {
    return parse(await runScript(client, listFetchScript, fetchKeys, fetchArgs(max)));
  }

  /**
   * Waits on the blocking connection: BLMOVE into the landing list, with list-fetch pipelined right
   * behind it, so the message that ends the wait (and whatever came with it) arrives in the same round
   * trip, its attempt looked up atomically.
   */
  async function wait(max: number, seconds: number): Promise<{ items: Fetched[]; nextDueMs: number }> {
    const pipeline = blocking.pipeline().blmove(keys.queue, landing, 'RIGHT', 'LEFT', seconds);
    (pipeline as unknown as ScriptingPipeline).evalshaBuffer(
      listFetchScript.sha,
      fetchKeys.length,
      ...fetchKeys,
      ...fetchArgs(max),
    );
    const results = await blockingRead.race(pipeline.exec());
    const [blocked, fetched] = results ?? [];
    if (blocked?.[0]) throw blocked[0];
    if (fetched?.[0]) {
      // The script is not loaded yet (first use, or Redis restarted): the landing list is drained by
      // the next list-fetch, sent the ordinary way.
      return await take(max);
    }
    return parse(fetched?.[1]);
  }

  /**
   * Set when the last fetch left the queue drained (fewer than asked for): the next one then goes
   * straight to the blocking read, whose pipelined list-fetch does everything a plain list-fetch would.
   * A separate list-fetch first would cost a round trip during which a new message waits unserved.
   */
  let drained = false;
  /** When the next delayed message is due (local clock), or -1: bounds the blocking read. */
  let dueAt = -1;
  function settle(result: { items: Fetched[]; nextDueMs: number }, max: number): Fetched[] {
    drained = result.items.length < max;
    dueAt = result.nextDueMs < 0 ? -1 : Date.now() + result.nextDueMs;
    return result.items;
  }

  let resync = false;
  /**
   * After a failed fetch (connection lost mid-reply), the processing list may hold messages this
   * process never received. They are found by comparing the list with what is held here, and delivered
   * (they were never handed to a handler, so their attempt is unchanged).
   */
  async function recover(held: readonly Fetched[]): Promise<Fetched[]> {
    const inList = await client.lrangeBuffer(processing, 0, -1);
    const known = new Map<string, number>();
    for (const message of held) {
      const id = message.body.toString('latin1');
      known.set(id, (known.get(id) ?? 0) + 1);
    }
    const orphans: Buffer[] = [];
    // Oldest first: the list's right end was taken first.
    for (const body of inList.reverse()) {
      const id = body.toString('latin1');
      const count = known.get(id) ?? 0;
      if (count > 0) known.set(id, count - 1);
      else orphans.push(body);
    }
    if (orphans.length === 0) return [];
    const seen = await client.hmget(
      keys.attempts,
      ...orphans.map((body) => createHash('sha1').update(body).digest('hex')),
    );
    return orphans.map((body, i) => ({ body, attempt: Number(seen[i] ?? 0) + 1 }));
  }

  /**
   * A settlement whose reply never came may or may not have happened; if it did not, the message would
   * sit in the processing list of a live consumer for good. The next fetch then looks for it.
   */
  async function unsure(operation: () => Promise<unknown>): Promise<void> {
    try {
      await operation();
    } catch (error) {
      resync = true;
      throw error;
    }
  }

  return {
    tickIntervalMs: Math.max(100, Math.floor(context.visibilityTimeoutMs / 3)),

    async fetch(max, held) {
      try {
        const recovered = resync ? await recover(held) : [];
        resync = false;
        if (recovered.length > 0) {
          drained = false;
          return recovered;
        }
        // A delayed message already due is moved by a plain list-fetch, not after a blocking read.
        if (drained && (dueAt < 0 || dueAt > Date.now())) {
          const dueMs = dueAt < 0 ? -1 : Math.max(0, dueAt - Date.now());
          return settle(await wait(max, blockFor(dueMs, context.blockTimeoutMs) / 1000), max);
        }
        const first = await take(max);
        if (first.items.length > 0) return settle(first, max);
        return settle(await wait(max, blockFor(first.nextDueMs, context.blockTimeoutMs) / 1000), max);
      } catch (error) {
        // The reply may have been lost after Redis moved messages into our processing list.
        resync = true;
        drained = false;
        throw error;
      }
    },

    async ack(message) {
      await unsure(() => acknowledge(message));
    },

    async retry(message, delayMs) {
      await unsure(() =>
        settleScript(
          listRetryScript,
          [processing, keys.attempts, keys.queue, keys.delayed],
          [message.body, delayMs, randomBytes(DELAYED_ID_LENGTH / 2).toString('hex')],
        ),
      );
      return undefined;
    },

    async deadLetter(message, record) {
      await unsure(async () => {
        if (crossSlot) {
          // `<queue>.dead` hashes to another slot: record first, then remove (a crash in between
          // leaves a duplicate record, never a lost message).
          await writeReplicated(client, (p) => p.lpush(keys.dead, record), replicaWait, 'dead-letter');
          await settleScript(listAckScript, [processing, keys.attempts], [message.body]);
          return;
        }
        await settleScript(
          listDeadLetterScript,
          [processing, keys.attempts, keys.dead],
          [message.body, record],
        );
      });
    },

    async release(started) {
      await runScript(
        client,
        listReleaseScript,
        [processing, keys.queue, keys.attempts, keys.consumers, landing],
        [consumerId, ...started.map((m) => m.body)],
      );
    },

    async tick() {
      // Renews this consumer's lease and returns the messages of consumers whose lease expired.
      await runScript(
        client,
        listReapScript,
        [keys.queue, keys.consumers, keys.attempts],
        [keys.processingPrefix, consumerId, lease, keys.landingPrefix],
      );
    },

    interrupt() {
      blockingRead.interrupt();
      blocking.disconnect();
    },

    async dispose() {
      blocking.disconnect();
    },
  };
}

/**
 * Acknowledgements asked for in the same turn of the event loop go to Redis together, as one command:
 * handlers that finish together (a fetched batch, typically) cost one write and one reply, not one per
 * message. Each caller's promise resolves only once Redis answered for its batch, and rejects with the
 * batch's error (the caller then settles again, in a later batch).
 */
function batched<T>(send: (items: T[]) => Promise<unknown>): (item: T) => Promise<void> {
  let items: T[] = [];
  let sending: Promise<void> | undefined;
  const flush = async () => {
    const batch = items;
    items = [];
    sending = undefined;
    await send(batch);
  };
  return (item) => {
    items.push(item);
    // process.nextTick runs once the microtasks queued now have run: every handler settling in this
    // turn has added its item by then.
    sending ??= new Promise<void>((resolve) => process.nextTick(resolve)).then(flush);
    return sending;
  };
}

/**
 * From this size up, a first attempt is acknowledged by LREM rather than list-ack: below it, one script
 * call for a turn's acks costs Redis less than a command each; above it, copying the body into the
 * script costs more than the call saves (about 16 µs a call against 1.4 ns a byte).
 */
const PLAIN_ACK_BYTES = 16 * 1024;

/** How often a busy stream consumer looks for due retries, due delayed publishes and stale entries. */
const CLAIM_INTERVAL_MS = 100;

/** Whether a field name is the one-byte `name`. */
function isField(name: Buffer | undefined, code: number): boolean {
  return name !== undefined && name.length === 1 && name[0] === code;
}
const FIELD_B = 0x62;
const FIELD_K = 0x6b;

/** Streams mode: the queue is a stream read by consumer groups. */
export function streamSource(
  context: SourceContext & { group: string; trimIntervalMs: number },
): MessageSource {
  const { client, blocking, keys, consumerId, group, replicaWait } = context;
  const what = `settle in ${keys.queue}`;
  const retryKey = keys.retry(group);
  const idle = String(context.visibilityTimeoutMs);
  let lastTrim = 0;
  const blockingRead = interruption();
  const claimInterval = Math.min(CLAIM_INTERVAL_MS, context.blockTimeoutMs);
  /**
   * When the claim script must run again (local clock). It runs on every fetch of a consumer that
   * found the stream drained; a busy one runs it every claimInterval, or sooner when a retry or
   * delayed publish it knows of is due. A due delayed publish is appended behind the backlog a busy
   * consumer is reading anyway, and stale entries wait a visibility timeout: the interval delays
   * neither noticeably.
   */
  let claimAt = 0;
  /** When the next retry or delayed publish is due (local clock), or -1: bounds the blocking read. */
  let dueAt = -1;
  const dueSoon = (at: number) => {
    dueAt = dueAt < 0 ? at : Math.min(dueAt, at);
    claimAt = Math.min(claimAt, at);
  };

  /**
   * Entries read right behind an acknowledgement, on the same connection, for the next fetch. As many as
   * were acknowledged: Redis runs the XACK first, so this consumer never has more entries pending than
   * before, and what it holds stays within its prefetch. A deep queue then costs one round trip per
   * batch (acks and the next read together) instead of an ack, then a read.
   */
  const readAhead: Fetched[] = [];
  /** The read sent behind the last acknowledgement, until its reply is in `readAhead`. */
  let readingAhead: Promise<void> | undefined;
  /** A fetch is under way: it reads for itself (a read beside its blocking read could strand entries). */
  let fetching = false;
  let closing = false;
  /**
   * The newest entry a `>` read handed this consumer (such reads run one at a time, in id order), and
   * the size of a read that close cut short: its entries may be pending here though their reply never
   * came, and `release` hands back what is pending here beyond that newest entry.
   */
  let newestRead: string | undefined;
  /** The size of the blocking read under way (0: none). */
  let reading = 0;
  let cutShort = 0;

  const acknowledge = batched<string>((ids) =>
    inOneWrite(client, () => {
      const acknowledged =
        replicaWait.replicas > 0
          ? writeReplicated(client, (p) => p.xack(keys.queue, group, ...ids), replicaWait, what)
          : sendNow(client, 'xack', [keys.queue, group, ...ids], 'strings');
      // Not when upkeep is due: the next fetch runs the claim script first.
      if (!fetching && !closing && Date.now() < claimAt) readBehind(ids.length);
      return acknowledged;
    }),
  );

  function readBehind(count: number): void {
    const read = sendNow(
      client,
      'xreadgroup',
      ['GROUP', group, consumerId, 'COUNT', count, 'STREAMS', keys.queue, '>'],
      'buffers',
    ).then(
      (reply) => {
        readNew(reply, readAhead);
      },
      // Entries the lost reply carried stay pending, idle: a visibility timeout later they are claimed.
      () => {},
    );
    const before = readingAhead;
    readingAhead = before ? before.then(() => read) : read;
  }

  /** What the reads behind acknowledgements brought, up to `max`, once their replies are in. */
  async function takeReadAhead(max: number): Promise<Fetched[]> {
    const pending = readingAhead;
    if (pending) {
      await pending;
      if (readingAhead === pending) readingAhead = undefined;
    }
    return readAhead.splice(0, max);
  }

  /** Adds the entries of an `XREADGROUP … >` reply to `items`; returns how many entries it held. */
  function readNew(reply: unknown, items: Fetched[]): number {
    const streams = reply as unknown[] | null;
    // One stream was asked for: [[key, entries]] in RESP2 shape, [key, entries] as ioredis 6 maps it.
    const shaped = (streams && Buffer.isBuffer(streams[0]) ? [streams] : (streams ?? [])) as [
      Buffer,
      [Buffer, Buffer[]][],
    ][];
    let read = 0;
    for (const [, entries] of shaped) {
      read += entries.length;
      if (entries.length > 0) newestRead = String(entries[entries.length - 1]![0]);
      for (const [id, fields] of entries) {
        // A fresh entry ('>') is on its first delivery.
        const item = entry(id, fields, 1);
        if (item) items.push(item);
      }
    }
    return read;
  }

  function entry(id: unknown, fields: unknown, attempt: number): Fetched | undefined {
    const list = fields as Buffer[];
    let body: Buffer | undefined;
    let key: Buffer | undefined;
    for (let i = 0; i + 1 < list.length; i += 2) {
      if (isField(list[i], FIELD_B)) body = list[i + 1];
      else if (isField(list[i], FIELD_K)) key = list[i + 1];
    }
    // An entry written by a foreign producer without a `b` field: its first value is the body.
    body ??= list[1];
    if (!body) return undefined;
    const item: Fetched = { id: String(id), body, attempt };
    if (key !== undefined) item.key = key.toString();
    return item;
  }

  function parseClaimed(flat: unknown[]): Fetched[] {
    const items: Fetched[] = [];
    for (let i = 0; i < flat.length; i += 3) {
      const item = entry(flat[i], flat[i + 1], toNumber(flat[i + 2]));
      if (item) items.push(item);
    }
    return items;
  }

  async function claim(max: number): Promise<Fetched[]> {
    const [flat, nextDue] = (await runScript(
      client,
      streamClaimScript,
      [keys.queue, retryKey, keys.delayed],
      [group, consumerId, max, idle],
    )) as [unknown[], unknown];
    const dueMs = toNumber(nextDue);
    const at = Date.now();
    dueAt = dueMs < 0 ? -1 : at + dueMs;
    // A full claim may have left more behind: the next fetch looks again.
    claimAt = flat.length / 3 >= max ? 0 : at + (dueMs < 0 ? claimInterval : Math.min(claimInterval, dueMs));
    return parseClaimed(flat);
  }

  return {
    tickIntervalMs: Math.max(
      100,
      Math.min(Math.floor(context.visibilityTimeoutMs / 3), context.trimIntervalMs),
    ),

    async fetch(max) {
      fetching = true;
      try {
        const ahead = await takeReadAhead(max);
        if (ahead.length > 0) return ahead;
        const items = Date.now() >= claimAt ? await claim(max) : [];
        if (items.length >= max) return items;
        const wanted = max - items.length;
        const args: (string | number)[] = ['GROUP', group, consumerId, 'COUNT', wanted];
        if (items.length === 0) {
          args.push(
            'BLOCK',
            blockFor(dueAt < 0 ? -1 : Math.max(0, dueAt - Date.now()), context.blockTimeoutMs),
          );
        }
        args.push('STREAMS', keys.queue, '>');
        reading = wanted;
        const reply = await blockingRead.race(blocking.callBuffer('XREADGROUP', ...args));
        // Drained: before blocking again, look for retries, delayed publishes and stale entries.
        if (readNew(reply, items) < wanted) claimAt = 0;
        return items;
      } finally {
        fetching = false;
        reading = 0;
      }
    },

    ack: (message) => acknowledge(message.id!),

    async retry(message, delayMs) {
      if (delayMs > 0) {
        await runScriptReplicated(
          client,
          streamRetryScript,
          [retryKey],
          [message.id!, delayMs],
          replicaWait,
          what,
        );
        dueSoon(Date.now() + delayMs);
        return undefined;
      }
      // Claimed again by this consumer at once: the broker counts the delivery; it runs behind
      // whatever is already waiting here.
      const flat = (await runScriptReplicated(
        client,
        streamReclaimScript,
        [keys.queue],
        [group, consumerId, message.id!],
        replicaWait,
        what,
      )) as unknown[] | null;
      return flat && flat.length === 3 ? entry(flat[0], flat[1], toNumber(flat[2])) : undefined;
    },

    async deadLetter(message, record) {
      if (client instanceof Cluster) {
        await writeReplicated(client, (p) => p.xadd(keys.dead, '*', 'b', record), replicaWait, what);
        await writeReplicated(client, (p) => p.xack(keys.queue, group, message.id!), replicaWait, what);
        return;
      }
      await runScriptReplicated(
        client,
        streamDeadLetterScript,
        [keys.queue, keys.dead],
        [group, message.id!, record],
        replicaWait,
        what,
      );
    },

    async release(started, waiting) {
      const readBehindAcks = await takeReadAhead(Number.POSITIVE_INFINITY);
      const ids = [...started, ...waiting, ...readBehindAcks].map((m) => m.id!);
      if (cutShort > 0) {
        const after = newestRead === undefined ? '-' : `(${newestRead}`;
        const lost = (await client.xpending(keys.queue, group, after, '+', cutShort, consumerId)) as [
          string,
        ][];
        ids.push(...lost.map(([id]) => id));
      }
      if (ids.length === 0) return;
      // Marks them idle for a whole visibility timeout: the next claim (by any consumer) takes them.
      await client.call('XCLAIM', keys.queue, group, consumerId, 0, ...new Set(ids), 'IDLE', idle, 'JUSTID');
    },

    async tick(held) {
      const ids = [...held, ...readAhead].map((m) => m.id!);
      // Resets the idle time of what this consumer holds, so a live consumer's work is not claimed.
      if (ids.length > 0) await client.call('XCLAIM', keys.queue, group, consumerId, 0, ...ids, 'JUSTID');
      if (Date.now() - lastTrim >= context.trimIntervalMs) {
        lastTrim = Date.now();
        await runScript(client, streamTrimScript, [keys.queue], []);
      }
    },

    interrupt() {
      closing = true;
      cutShort = reading;
      blockingRead.interrupt();
      blocking.disconnect();
    },

    async dispose() {
      blocking.disconnect();
    },
  };
}
