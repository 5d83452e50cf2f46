import { assertQueueName, deadLetterQueueName, type QueueStats } from '@thrun/contract';
import { Cluster, type RedisClient } from './connection.js';
import { queueKeys } from './keys.js';

/**
 * Inspection reads only: LLEN, ZCARD, XINFO, SCAN and XRANGE. It never creates a group, claims an
 * entry or counts a delivery, so it is safe next to running workers.
 */

const DEAD_SUFFIX = deadLetterQueueName('');

/** A SCAN pattern matching `text` literally (a key prefix may hold glob characters). */
export function literal(text: string): string {
  return text.replace(/[*?[\]\\]/g, (char) => `\\${char}`);
}

/** Every key matching `pattern`, on every master of a cluster. */
export async function scanKeys(client: RedisClient, pattern: string, type?: string): Promise<string[]> {
  const nodes = client instanceof Cluster ? client.nodes('master') : [client];
  const found: string[] = [];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = type
        ? await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000, 'TYPE', type)
        : await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      found.push(...keys);
    } while (cursor !== '0');
  }
  return found;
}

/** The Thrun queue a key names, or undefined for a key that is not one of a queue's. */
function queueOfKey(keyPrefix: string, key: string): string | undefined {
  let name: string | undefined;
  if (key.startsWith(`{${keyPrefix}`)) {
    const end = key.indexOf('}:');
    if (end > 0) name = key.slice(1 + keyPrefix.length, end);
  } else if (key.startsWith(keyPrefix)) {
    name = key.slice(keyPrefix.length);
  }
  if (name === undefined) return undefined;
  if (name.endsWith(DEAD_SUFFIX)) name = name.slice(0, -DEAD_SUFFIX.length);
  try {
    assertQueueName(name);
    return name;
  } catch {
    return undefined;
  }
}

/**
 * The queues found on the server: keys of the mode's type named like a queue (or its dead-letter
 * queue), and the braced keys beside them (a Lists queue whose list is empty has no key of its own,
 * but its consumers' leases or delayed messages remain).
 */
export async function findQueues(
  client: RedisClient,
  keyPrefix: string,
  mode: 'list' | 'stream',
): Promise<string[]> {
  const prefix = literal(keyPrefix);
  const keys = [
    ...(await scanKeys(client, `${prefix}*`, mode)),
    ...(await scanKeys(client, `{${prefix}*}:*`)),
  ];
  const queues = new Set<string>();
  for (const key of keys) {
    const queue = queueOfKey(keyPrefix, key);
    if (queue !== undefined) queues.add(queue);
  }
  return [...queues];
}

/** Lists mode: one shared backlog per queue, so one row without a group. */
export async function inspectListQueue(
  client: RedisClient,
  keyPrefix: string,
  queue: string,
): Promise<QueueStats | undefined> {
  const keys = queueKeys(keyPrefix, queue);
  // A queue of the other mode (a stream) on the same server is not this transport's to report.
  if (!['list', 'none'].includes(await client.type(keys.queue))) return undefined;
  const taken = [
    ...(await scanKeys(client, `${literal(keys.processingPrefix)}*`)),
    ...(await scanKeys(client, `${literal(keys.landingPrefix)}*`)),
  ];
  const [seconds, micros] = await client.time();
  const nowMs = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  const deadIsList = ['list', 'none'].includes(await client.type(keys.dead));
  // Separate commands, not one pipeline: in a Cluster the dead-letter queue's key is in another slot.
  const replies = await Promise.all([
    client.llen(keys.queue),
    client.zcard(keys.delayed),
    client.zcount(keys.consumers, nowMs, '+inf'),
    deadIsList ? client.llen(keys.dead) : client.xlen(keys.dead),
    ...taken.map((key) => client.llen(key)),
  ]);
  const [waiting = 0, delayed = 0, consumers = 0, dead = 0, ...inFlight] = replies;
  return {
    queue,
    waiting,
    inFlight: inFlight.reduce((sum, n) => sum + n, 0),
    delayed,
    dead,
    consumers,
  };
}

interface StreamGroup {
  name: string;
  consumers: number;
  pending: number;
  lastDeliveredId: string;
  lag: number | null;
}

async function streamGroups(client: RedisClient, stream: string): Promise<StreamGroup[] | undefined> {
  if ((await client.type(stream)) !== 'stream') return undefined;
  const reply = (await client.xinfo('GROUPS', stream)) as unknown[][];
  return reply.map((flat) => {
    const field = new Map<string, unknown>();
    for (let i = 0; i < flat.length; i += 2) field.set(String(flat[i]), flat[i + 1]);
    const lag = field.get('lag');
    return {
      name: String(field.get('name')),
      consumers: Number(field.get('consumers')),
      pending: Number(field.get('pending')),
      lastDeliveredId: String(field.get('last-delivered-id')),
      lag: lag === null || lag === undefined ? null : Number(lag),
    };
  });
}

/**
 * Entries a group has not been handed yet. Redis keeps this as `lag`, except after deletions in the
 * middle of the stream, when it cannot tell: then the entries after the group's last delivered id
 * are counted. Entries every group acknowledged but not yet trimmed are never counted.
 */
async function undelivered(client: RedisClient, stream: string, group: StreamGroup): Promise<number> {
  if (group.lag !== null) return group.lag;
  let count = 0;
  let from = `(${group.lastDeliveredId}`;
  for (;;) {
    const entries = (await client.xrange(stream, from, '+', 'COUNT', 1000)) as [string, string[]][];
    count += entries.length;
    if (entries.length < 1000) return count;
    from = `(${entries.at(-1)![0]}`;
  }
}

/**
 * Dead letters of a Streams queue not yet replayed: with no group on the dead-letter stream, all of
 * its entries; otherwise what the group furthest behind has not acknowledged (its undelivered plus
 * pending entries), since a replayed record is acknowledged and stays in the stream until trimmed.
 */
async function deadInStream(client: RedisClient, dead: string): Promise<number> {
  const groups = await streamGroups(client, dead);
  if (groups === undefined) return 0;
  if (groups.length === 0) return client.xlen(dead);
  let most = 0;
  for (const group of groups) most = Math.max(most, (await undelivered(client, dead, group)) + group.pending);
  return most;
}

/** Streams mode: one row per consumer group (one without a group while nobody consumed the queue). */
export async function inspectStreamQueue(
  client: RedisClient,
  keyPrefix: string,
  queue: string,
): Promise<QueueStats[]> {
  const keys = queueKeys(keyPrefix, queue);
  if (!['stream', 'none'].includes(await client.type(keys.queue))) return []; // a Lists queue
  const groups = (await streamGroups(client, keys.queue)) ?? [];
  const delayed = await client.zcard(keys.delayed);
  const dead = await deadInStream(client, keys.dead);
  if (groups.length === 0) {
    const waiting = (await client.type(keys.queue)) === 'stream' ? await client.xlen(keys.queue) : 0;
    return [{ queue, waiting, inFlight: 0, delayed, dead, consumers: 0 }];
  }
  const rows: QueueStats[] = [];
  for (const group of groups) {
    // A retry parked for later stays pending in its group: it is delayed, not in flight.
    const parked = await client.zcard(keys.retry(group.name));
    rows.push({
      queue,
      group: group.name,
      waiting: await undelivered(client, keys.queue, group),
      inFlight: Math.max(0, group.pending - parked),
      delayed: delayed + parked,
      dead,
      consumers: group.consumers,
    });
  }
  return rows;
}

type RawEntry = [Buffer, Buffer[]];

/**
 * Up to `limit` entries of a stream still waiting for `group`, oldest first: its pending entries
 * (delivered, not acknowledged), then those after its last delivered id. Entries it acknowledged but
 * nobody trimmed yet are left out. Without that group, every entry the stream holds.
 */
export async function waitingEntries(
  client: RedisClient,
  stream: string,
  group: string,
  limit: number,
): Promise<RawEntry[]> {
  const found = (await streamGroups(client, stream))?.find((candidate) => candidate.name === group);
  if (!found) return (await client.xrangeBuffer(stream, '-', '+', 'COUNT', limit)) as RawEntry[];
  const entries: RawEntry[] = [];
  const pending = (await client.xpending(stream, group, '-', '+', limit)) as [string, ...unknown[]][];
  for (const [id] of pending) {
    const [entry] = (await client.xrangeBuffer(stream, id, id)) as RawEntry[];
    if (entry) entries.push(entry); // a pending id may have been trimmed or purged
  }
  if (entries.length < limit) {
    const after = `(${found.lastDeliveredId}`;
    entries.push(
      ...((await client.xrangeBuffer(stream, after, '+', 'COUNT', limit - entries.length)) as RawEntry[]),
    );
  }
  return entries;
}

/** How many entries of a stream wait for `group` (as `waitingEntries` would list them), without reading them. */
export async function waitingCount(client: RedisClient, stream: string, group: string): Promise<number> {
  const groups = await streamGroups(client, stream);
  if (groups === undefined) return 0;
  const found = groups.find((candidate) => candidate.name === group);
  return found ? (await undelivered(client, stream, found)) + found.pending : client.xlen(stream);
}
