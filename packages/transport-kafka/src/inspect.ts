import { randomBytes } from 'node:crypto';
import { deadLetterQueueName, type QueuedMessage, type QueueStats } from '@thrun/contract';
import type { Admin, Kafka, KafkaMessage } from 'kafkajs';
import { HEADER, readHeader, textHeaders } from './headers.js';
import { retryTopic } from './topics.js';

/** Offsets `[start, end)` of one partition still waiting for a group. */
export interface WaitingRange {
  partition: number;
  start: number;
  end: number;
}

/**
 * What still waits in `topic` for `groupId`: from the group's committed offset (or the oldest retained
 * record when it has none, or when no group is given) up to the high watermark. An absent topic waits
 * for nothing.
 */
export async function waitingRanges(
  admin: Admin,
  topic: string,
  groupId: string | undefined,
): Promise<WaitingRange[]> {
  // Asked first because kafkajs retries "unknown topic" for the whole retry budget (about 30 s)
  // before giving up: listing the topics is one request that answers at once.
  if (!(await admin.listTopics()).includes(topic)) return [];
  let offsets: Awaited<ReturnType<Admin['fetchTopicOffsets']>>;
  try {
    offsets = await admin.fetchTopicOffsets(topic);
  } catch {
    return []; // deleted since it was listed
  }
  const committed = new Map<number, number>();
  if (groupId !== undefined) {
    const [groupOffsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
    for (const { partition, offset } of groupOffsets?.partitions ?? []) {
      if (Number(offset) >= 0) committed.set(partition, Number(offset));
    }
  }
  return offsets.map(({ partition, low, high }) => ({
    partition,
    start: Math.max(Number(low), committed.get(partition) ?? 0),
    end: Number(high),
  }));
}

/**
 * Reads up to `limit` waiting messages of `topic` without committing anything for `groupId`: kafkajs
 * reads only through a group, so a throwaway group does the reading and is deleted afterwards.
 * Messages are merged across partitions by their timestamps, oldest first; copies another group
 * republished for itself (retries) are left out.
 */
export async function peekTopic(
  kafka: Kafka,
  admin: Admin,
  topic: string,
  groupId: string,
  group: string,
  limit: number,
  timeoutMs: number,
): Promise<QueuedMessage[]> {
  if (limit <= 0) return [];
  const ranges = (await waitingRanges(admin, topic, groupId)).filter((range) => range.end > range.start);
  if (ranges.length === 0) return [];

  const found: KafkaMessage[] = [];
  const complete = new Set<number>();
  const taken = new Map<number, number>();
  const peekGroup = `${groupId}.peek.${randomBytes(4).toString('hex')}`;
  const consumer = kafka.consumer({
    groupId: peekGroup,
    maxWaitTimeInMs: 100,
    allowAutoTopicCreation: false,
  });
  let done: () => void = () => {};
  const finished = new Promise<void>((resolve) => {
    done = resolve;
  });
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const range = ranges.find((r) => r.partition === batch.partition);
        if (!range || complete.has(range.partition)) return;
        for (const message of batch.messages) {
          const offset = Number(message.offset);
          if (offset < range.start) continue;
          const target = readHeader(message.headers, HEADER.group);
          if (offset < range.end && (target === undefined || target === group)) {
            found.push(message);
            taken.set(range.partition, (taken.get(range.partition) ?? 0) + 1);
          }
          if (offset >= range.end - 1 || (taken.get(range.partition) ?? 0) >= limit) {
            complete.add(range.partition);
            break;
          }
        }
        if (complete.size === ranges.length) done();
      },
    });
    consumer.on(consumer.events.GROUP_JOIN, () => {
      for (const range of ranges)
        consumer.seek({ topic, partition: range.partition, offset: String(range.start) });
    });
    for (const range of ranges)
      consumer.seek({ topic, partition: range.partition, offset: String(range.start) });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      finished,
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
  } finally {
    await consumer.disconnect().catch(() => {});
    await admin.deleteGroups([peekGroup]).catch(() => {});
  }
  return found
    .sort((a, b) => Number(a.timestamp) - Number(b.timestamp))
    .slice(0, limit)
    .map((message) => {
      const value = message.value ?? Buffer.alloc(0);
      const body = new Uint8Array(value);
      const headers = textHeaders(message.headers);
      return {
        body,
        ...(message.key ? { key: message.key.toString('utf8') } : {}),
        ...(headers ? { headers } : {}),
      };
    });
}

/**
 * Deletes every record of `topics` (Kafka's DeleteRecords) and returns how many of them were still
 * waiting for `groupId` (all of them when it has committed nothing).
 */
export async function purgeTopics(admin: Admin, topics: readonly string[], groupId: string): Promise<number> {
  let removed = 0;
  for (const topic of topics) {
    const ranges = await waitingRanges(admin, topic, groupId);
    if (ranges.length === 0) continue;
    removed += ranges.reduce((sum, range) => sum + Math.max(0, range.end - range.start), 0);
    await admin.deleteTopicRecords({
      topic,
      partitions: ranges.map((range) => ({ partition: range.partition, offset: '-1' })),
    });
  }
  return removed;
}

/** What `inspect` needs to know of the transport's naming. */
export interface InspectNaming {
  groupIdPrefix: string;
  /** True for a queue name the transport accepts. */
  isQueue(name: string): boolean;
}

/** A throwaway group of `peekTopic`: `<group id>.peek.<8 hex digits>`. */
const PEEK_GROUP = /\.peek\.[0-9a-f]{8}$/;

const lagOf = (ranges: readonly WaitingRange[]) =>
  ranges.reduce((sum, range) => sum + Math.max(0, range.end - range.start), 0);

/**
 * Lag per queue and group, from the admin API only: every topic named like a queue (not its `.retry`
 * or `.dead` topic) and `queues`, each with every Kafka group `<prefix>.<queue>.<group>` (the longest
 * matching queue name wins, since both may contain dots). `waiting` is the lag on `<queue>`,
 * `delayed` the lag on `<queue>.retry`, `dead` what the dead-letter topic holds that no group of it
 * has committed past. Kafka knows committed offsets only: `inFlight` stays absent (delivered but
 * uncommitted records are part of the lag), and a record another group wrote back for itself counts
 * in every group's lag though only that group handles it.
 */
export async function inspectTopics(
  admin: Admin,
  naming: InspectNaming,
  queues: readonly string[],
  extraGroups: readonly string[],
): Promise<QueueStats[]> {
  const topics = await admin.listTopics();
  const isQueueTopic = (topic: string) =>
    !topic.startsWith('__') && !topic.endsWith('.retry') && !topic.endsWith('.dead') && naming.isQueue(topic);
  const names = new Set([...topics.filter(isQueueTopic), ...queues]);

  // Group ids by the queue (or dead-letter topic) they consume.
  const groupsOf = new Map<string, Set<string>>();
  const candidates = [...names, ...[...names].map(deadLetterQueueName)].sort((a, b) => b.length - a.length);
  const { groups } = await admin.listGroups();
  for (const { groupId } of groups) {
    if (PEEK_GROUP.test(groupId)) continue;
    const queue = candidates.find((name) => groupId.startsWith(`${naming.groupIdPrefix}.${name}.`));
    if (queue === undefined) continue;
    const group = groupId.slice(naming.groupIdPrefix.length + queue.length + 2);
    if (!groupsOf.has(queue)) groupsOf.set(queue, new Set());
    groupsOf.get(queue)!.add(group);
  }
  const groupId = (queue: string, group: string) => `${naming.groupIdPrefix}.${queue}.${group}`;
  const members = new Map<string, number>();
  const described = [...groupsOf].flatMap(([queue, set]) => [...set].map((group) => groupId(queue, group)));
  if (described.length > 0) {
    for (const group of (await admin.describeGroups(described)).groups) {
      members.set(group.groupId, group.members.length);
    }
  }

  const rows: QueueStats[] = [];
  for (const queue of names) {
    const deadTopic = deadLetterQueueName(queue);
    const deadGroups = [...(groupsOf.get(deadTopic) ?? [])];
    // Without a group on it, every retained dead letter is still there; otherwise the furthest behind.
    let dead = 0;
    for (const group of deadGroups.length > 0 ? deadGroups : [undefined]) {
      const ranges = await waitingRanges(admin, deadTopic, group && groupId(deadTopic, group));
      dead = Math.max(dead, lagOf(ranges));
    }
    const known = [...new Set([...(groupsOf.get(queue) ?? []), ...extraGroups])];
    for (const group of known.length > 0 ? known : [undefined]) {
      const id = group && groupId(queue, group);
      const main = await waitingRanges(admin, queue, id);
      const retry = await waitingRanges(admin, retryTopic(queue), id);
      rows.push({
        queue,
        ...(group === undefined ? {} : { group }),
        waiting: lagOf(main),
        delayed: lagOf(retry),
        dead,
        consumers: id === undefined ? 0 : (members.get(id) ?? 0),
        partitions: main.map((range) => ({
          partition: range.partition,
          lag: Math.max(0, range.end - range.start),
        })),
      });
    }
  }
  return rows;
}
