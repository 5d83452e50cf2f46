import type { TopicPartitionOffset } from 'kafkajs';

/**
 * Per partition, how far this consumer settled beyond what it saw committed, in the current group
 * generation: what a rejoin commits again.
 *
 * kafkajs finds the group coordinator only when it joins the group. When the coordinator's broker
 * dies, every commit keeps failing against it while the partitions (led by other brokers) are still
 * read and their messages settled, until the consumer joins again: when the dead broker is back and
 * answers NOT_COORDINATOR, or when the retries run out and kafkajs restarts the consumer. The new
 * generation then starts from the last commit that got through, and everything settled since would
 * be delivered again. Seeking a partition this consumer still holds to its settled offset makes
 * kafkajs commit that offset (autoCommit) before its next fetch, with the new generation: the same
 * rule as any commit, since every message before it was settled here.
 */
export class SettledOffsets {
  /** Bumped at each join; a batch fetched in an earlier generation no longer records. */
  private generationCount = 0;
  /** `topic:partition` → the last offset of the settled prefix, until seen committed or the partition lost. */
  private readonly settled = new Map<string, TopicPartitionOffset>();
  /** `topic:partition` → the offset kafkajs last committed (COMMIT_OFFSETS). */
  private readonly committed = new Map<string, bigint>();

  get generation(): number {
    return this.generationCount;
  }

  /** A batch of `generation` resolved `offset`: it and everything before it are settled. */
  resolved(generation: number, topic: string, partition: number, offset: string): void {
    if (generation !== this.generationCount) return;
    // On every settled message: one entry per partition, updated in place; the arithmetic waits for a join.
    const key = `${topic}:${partition}`;
    const entry = this.settled.get(key);
    if (entry) entry.offset = offset;
    else this.settled.set(key, { topic, partition, offset });
  }

  /** kafkajs committed these next offsets. */
  commitDone(
    topics: readonly { topic: string; partitions: { partition: number; offset: string }[] }[],
  ): void {
    for (const { topic, partitions } of topics) {
      for (const { partition, offset } of partitions)
        this.committed.set(`${topic}:${partition}`, BigInt(offset));
    }
  }

  /**
   * The consumer joined a new generation holding `assignment`: returns the seeks that commit what was
   * settled but not seen committed on the partitions it kept (kept until seen committed: a seek takes
   * effect only at the next fetch, which a quick rebalance may preempt), and forgets the partitions it
   * lost, whose next owner commits for itself.
   */
  joined(assignment: Readonly<Record<string, readonly number[]>>): TopicPartitionOffset[] {
    this.generationCount += 1;
    const held = new Set(
      Object.entries(assignment).flatMap(([topic, partitions]) => partitions.map((p) => `${topic}:${p}`)),
    );
    for (const key of this.committed.keys()) if (!held.has(key)) this.committed.delete(key);
    const seeks: TopicPartitionOffset[] = [];
    for (const [key, { topic, partition, offset }] of this.settled) {
      const next = BigInt(offset) + 1n;
      if (held.has(key) && next > (this.committed.get(key) ?? -1n)) {
        seeks.push({ topic, partition, offset: String(next) });
      } else this.settled.delete(key);
    }
    return seeks;
  }
}
