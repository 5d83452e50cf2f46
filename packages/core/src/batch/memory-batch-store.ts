import {
  type BatchEmission,
  type BatchListOptions,
  type BatchRecord,
  type BatchStore,
  type BatchStoreOptions,
  type BatchTransition,
  cancelBatch,
  DEFAULT_BATCH_RETENTION_MS,
  DEFAULT_CLAIM_TTL_MS,
  type DueEmissions,
  isTerminal,
  recordStepOutcome,
  type StepOutcome,
  type StepStart,
  selectBatches,
  startBatch,
} from '@thrun/contract';

interface OutboxEntry {
  emission: BatchEmission;
  claimedUntil: number;
}

interface Lease {
  token: string;
  until: number;
}

interface Entry {
  record: BatchRecord;
  outbox: Map<string, OutboxEntry>;
  leases: Map<number, Lease>;
  expiresAt?: number;
}

/**
 * Batch state in this process. Each transition runs synchronously between two awaits, which makes
 * it atomic for every worker in the process. Use a shared store (Redis) when workers are spread
 * over several processes.
 */
export class MemoryBatchStore implements BatchStore {
  private readonly batches = new Map<string, Entry>();
  /** The outbox sweep's index: batch id → when its earliest unpublished emission becomes claimable. */
  private readonly due = new Map<string, number>();
  private readonly retentionMs: number;
  private readonly claimTtlMs: number;
  private nextSweepAt = 0;

  constructor(options: BatchStoreOptions = {}) {
    this.retentionMs = options.retentionMs ?? DEFAULT_BATCH_RETENTION_MS;
    this.claimTtlMs = options.claimTtlMs ?? DEFAULT_CLAIM_TTL_MS;
  }

  async create(record: BatchRecord): Promise<BatchEmission[]> {
    this.sweep();
    const entry: Entry = { record: structuredClone(record), outbox: new Map(), leases: new Map() };
    this.batches.set(record.id, entry);
    const emissions = startBatch(entry.record, new Date().toISOString());
    this.afterTransition(entry, emissions);
    return this.claim(entry);
  }

  async list(options?: BatchListOptions): Promise<BatchRecord[]> {
    this.sweep();
    const live = [...this.batches.keys()].flatMap((id) => this.live(id)?.record ?? []);
    return selectBatches(live, options).map((record) => structuredClone(record));
  }

  async get(id: string): Promise<BatchRecord | undefined> {
    const entry = this.live(id);
    return entry && structuredClone(entry.record);
  }

  async recordStep(id: string, index: number, outcome: StepOutcome): Promise<BatchTransition> {
    const entry = this.live(id);
    if (!entry) return { applied: false, record: undefined, emissions: [] };
    const emissions = recordStepOutcome(entry.record, index, outcome, new Date().toISOString());
    if (emissions) entry.leases.delete(index);
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
    this.index(entry);
  }

  async release(id: string, keys: readonly string[]): Promise<void> {
    const entry = this.batches.get(id);
    if (!entry) return;
    for (const key of keys) {
      const item = entry.outbox.get(key);
      if (item) item.claimedUntil = 0;
    }
    this.index(entry);
  }

  async claimDue(limit: number): Promise<DueEmissions[]> {
    const now = Date.now();
    const found: DueEmissions[] = [];
    for (const [id, dueAt] of this.due) {
      if (found.length >= limit) break;
      if (dueAt > now) continue;
      const entry = this.live(id);
      if (!entry) {
        this.due.delete(id);
        continue;
      }
      const emissions = this.claim(entry);
      const { queue } = entry.record;
      if (emissions.length > 0) found.push({ id, ...(queue === undefined ? {} : { queue }), emissions });
    }
    return found;
  }

  async startStep(id: string, index: number, token: string, leaseMs: number): Promise<StepStart> {
    const entry = this.live(id);
    if (!entry) return 'unknown';
    if (entry.record.settled.includes(index)) return 'settled';
    if (entry.record.status !== 'running') return 'ended';
    const now = Date.now();
    const lease = entry.leases.get(index);
    if (lease && lease.token !== token && lease.until > now) return 'busy';
    entry.leases.set(index, { token, until: now + leaseMs });
    entry.record.activeAt = new Date(now).toISOString();
    return 'run';
  }

  async renewStep(id: string, index: number, token: string, leaseMs: number): Promise<boolean> {
    const entry = this.live(id);
    const lease = entry?.leases.get(index);
    if (!entry || lease?.token !== token) return false;
    const now = Date.now();
    lease.until = now + leaseMs;
    entry.record.activeAt = new Date(now).toISOString();
    return true;
  }

  async releaseStep(id: string, index: number, token: string): Promise<void> {
    const leases = this.live(id)?.leases;
    if (leases?.get(index)?.token === token) leases.delete(index);
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
    if (isTerminal(entry.record.status)) {
      entry.expiresAt = Date.now() + this.retentionMs;
      entry.leases.clear();
    }
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
    this.index(entry);
    return claimed;
  }

  /** Keeps the sweep's index in step with the outbox: the earliest claim expiry, or no entry. */
  private index(entry: Entry): void {
    let dueAt = Number.POSITIVE_INFINITY;
    for (const item of entry.outbox.values()) dueAt = Math.min(dueAt, item.claimedUntil);
    if (dueAt === Number.POSITIVE_INFINITY) this.due.delete(entry.record.id);
    else this.due.set(entry.record.id, dueAt);
  }

  private live(id: string): Entry | undefined {
    const entry = this.batches.get(id);
    if (entry?.expiresAt !== undefined && entry.expiresAt <= Date.now()) {
      this.batches.delete(id);
      this.due.delete(id);
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
      if (entry.expiresAt !== undefined && entry.expiresAt <= now) {
        this.batches.delete(id);
        this.due.delete(id);
      }
    }
  }
}
