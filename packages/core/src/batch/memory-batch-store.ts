import {
  type BatchEmission,
  type BatchRecord,
  type BatchStore,
  type BatchStoreOptions,
  type BatchTransition,
  cancelBatch,
  DEFAULT_BATCH_RETENTION_MS,
  DEFAULT_CLAIM_TTL_MS,
  isTerminal,
  recordStepOutcome,
  type StepOutcome,
  startBatch,
} from '@thrun/contract';

interface OutboxEntry {
  emission: BatchEmission;
  claimedUntil: number;
}

interface Entry {
  record: BatchRecord;
  outbox: Map<string, OutboxEntry>;
  expiresAt?: number;
}

/**
 * Batch state in this process. Each transition runs synchronously between two awaits, which makes
 * it atomic for every worker in the process. Use a shared store (Redis) when workers are spread
 * over several processes.
 */
export class MemoryBatchStore implements BatchStore {
  private readonly batches = new Map<string, Entry>();
  private readonly retentionMs: number;
  private readonly claimTtlMs: number;
  private nextSweepAt = 0;

  constructor(options: BatchStoreOptions = {}) {
    this.retentionMs = options.retentionMs ?? DEFAULT_BATCH_RETENTION_MS;
    this.claimTtlMs = options.claimTtlMs ?? DEFAULT_CLAIM_TTL_MS;
  }

  async create(record: BatchRecord): Promise<BatchEmission[]> {
    this.sweep();
    const entry: Entry = { record: structuredClone(record), outbox: new Map() };
    this.batches.set(record.id, entry);
    const emissions = startBatch(entry.record, new Date().toISOString());
    this.afterTransition(entry, emissions);
    return this.claim(entry);
  }

  async get(id: string): Promise<BatchRecord | undefined> {
    const entry = this.live(id);
    return entry && structuredClone(entry.record);
  }

  async recordStep(id: string, index: number, outcome: StepOutcome): Promise<BatchTransition> {
    const entry = this.live(id);
    if (!entry) return { applied: false, record: undefined, emissions: [] };
    const emissions = recordStepOutcome(entry.record, index, outcome, new Date().toISOString());
    return this.transition(entry, emissions);
  }

  async cancel(id: string): Promise<BatchTransition> {
    const entry = this.live(id);
    if (!entry) return { applied: false, record: undefined, emissions: [] };
    return this.transition(entry, cancelBatch(entry.record, new Date().toISOString()));
  }

  async markEmitted(id: string, keys: readonly string[]): Promise<void> {
    const entry = this.batches.get(id);
    if (!entry) return;
    for (const key of keys) entry.outbox.delete(key);
  }

  async release(id: string, keys: readonly string[]): Promise<void> {
    const outbox = this.batches.get(id)?.outbox;
    for (const key of keys) {
      const item = outbox?.get(key);
      if (item) item.claimedUntil = 0;
    }
  }

  private transition(entry: Entry, emissions: BatchEmission[] | undefined): BatchTransition {
    if (emissions) this.afterTransition(entry, emissions);
    return {
      applied: emissions !== undefined,
      record: structuredClone(entry.record),
      emissions: this.claim(entry),
    };
  }

  private afterTransition(entry: Entry, emissions: BatchEmission[]): void {
    for (const emission of emissions) entry.outbox.set(emission.key, { emission, claimedUntil: 0 });
    if (isTerminal(entry.record.status)) entry.expiresAt = Date.now() + this.retentionMs;
  }

  /** Hands out every emission nobody holds a live claim on, and claims it. */
  private claim(entry: Entry): BatchEmission[] {
    const now = Date.now();
    const claimed: BatchEmission[] = [];
    for (const item of entry.outbox.values()) {
      if (item.claimedUntil > now) continue;
      item.claimedUntil = now + this.claimTtlMs;
      claimed.push(structuredClone(item.emission));
    }
    return claimed;
  }

  private live(id: string): Entry | undefined {
    const entry = this.batches.get(id);
    if (entry?.expiresAt !== undefined && entry.expiresAt <= Date.now()) {
      this.batches.delete(id);
      return undefined;
    }
    return entry;
  }

  /** Drops expired batches, at most once a second, so memory stays bounded by what is live. */
  private sweep(): void {
    const now = Date.now();
    if (now < this.nextSweepAt) return;
    this.nextSweepAt = now + 1000;
    for (const [id, entry] of this.batches) {
      if (entry.expiresAt !== undefined && entry.expiresAt <= now) this.batches.delete(id);
    }
  }
}
