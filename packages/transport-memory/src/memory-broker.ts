/**
 * The in-process broker behind `memoryTransport`. Several transport instances may share one broker,
 * the way several processes share one Redis: that is how tests model competing workers and a worker
 * that dies. Nothing here outlives the process.
 */

export interface StoredMessage {
  readonly body: Uint8Array;
  readonly key: string | undefined;
  /** Set on dead letters only (their `thrun-dead-*` description); frozen, shared by every copy. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Deliveries so far; the next delivery is `attempt + 1`. */
  deliveries: number;
}

/** A consumer attached to a group: the broker offers it messages while it has free capacity. */
export interface GroupMember {
  hasCapacity(): boolean;
  deliver(message: StoredMessage, group: GroupState): void;
  /** Deliveries handed to it and not settled yet. */
  readonly inFlight: number;
}

export class GroupState {
  readonly ready: StoredMessage[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly members: GroupMember[] = [];
  private nextMember = 0;
  private pumping = false;

  enqueue(message: StoredMessage, delayMs = 0): void {
    if (delayMs > 0) {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.ready.push(message);
        this.pump();
      }, delayMs);
      // In-process messages die with the process anyway; a pending delay must not keep it alive.
      timer.unref();
      this.timers.add(timer);
      return;
    }
    this.ready.push(message);
    this.pump();
  }

  /**
   * Puts released messages back at the front, in the order given, so a dead consumer's work keeps
   * its place ahead of what was published after it.
   */
  requeueFirst(messages: readonly StoredMessage[]): void {
    if (messages.length === 0) return;
    this.ready.unshift(...messages);
    this.pump();
  }

  attach(member: GroupMember): void {
    this.members.push(member);
    this.pump();
  }

  detach(member: GroupMember): void {
    const index = this.members.indexOf(member);
    if (index >= 0) this.members.splice(index, 1);
  }

  get waiting(): number {
    return this.ready.length + this.timers.size;
  }

  /** What an operator sees of this group: ready, held back, being handled, and by how many consumers. */
  counts(): { ready: number; delayed: number; inFlight: number; consumers: number } {
    return {
      ready: this.ready.length,
      delayed: this.timers.size,
      inFlight: this.members.reduce((sum, member) => sum + member.inFlight, 0),
      consumers: this.members.length,
    };
  }

  purge(): number {
    const removed = this.ready.length + this.timers.size;
    this.ready.length = 0;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    return removed;
  }

  /** Hands ready messages to members with free capacity, round robin, in FIFO order. */
  pump(): void {
    if (this.pumping) return; // a delivery that settles synchronously re-enters here
    this.pumping = true;
    try {
      while (this.ready.length > 0) {
        const member = this.pickMember();
        if (!member) return;
        member.deliver(this.ready.shift()!, this);
      }
    } finally {
      this.pumping = false;
    }
  }

  private pickMember(): GroupMember | undefined {
    for (let i = 0; i < this.members.length; i++) {
      const member = this.members[(this.nextMember + i) % this.members.length]!;
      if (member.hasCapacity()) {
        this.nextMember = (this.nextMember + i + 1) % this.members.length;
        return member;
      }
    }
    return undefined;
  }
}

export class QueueState {
  readonly groups = new Map<string, GroupState>();
  /** Messages published before any group subscribed; the first group to subscribe takes them. */
  private readonly unclaimed = new GroupState();

  publish(message: StoredMessage, delayMs: number): void {
    if (this.groups.size === 0) {
      this.unclaimed.enqueue(message, delayMs);
      return;
    }
    let first = true;
    for (const group of this.groups.values()) {
      // Each group gets its own copy, so attempts are counted per group.
      group.enqueue(first ? message : { ...message, deliveries: message.deliveries }, delayMs);
      first = false;
    }
  }

  /** A group's state, created on first use: the first group takes the unclaimed backlog, unless `fromNow`. */
  group(name: string, fromNow = false): GroupState {
    let group = this.groups.get(name);
    if (!group) {
      group = this.groups.size === 0 && !fromNow ? this.unclaimed : new GroupState();
      this.groups.set(name, group);
    }
    return group;
  }

  /** Forgets a group and its copies (its members were closed). */
  removeGroup(name: string): void {
    const group = this.groups.get(name);
    if (!group) return;
    this.groups.delete(name);
    if (group !== this.unclaimed) group.purge();
  }

  /** The group an operator looks at: the unclaimed backlog, else `default`, else the first group. */
  inspected(): GroupState {
    return this.groups.get('default') ?? this.groups.values().next().value ?? this.unclaimed;
  }

  purge(): number {
    let removed = 0;
    for (const group of new Set([this.unclaimed, ...this.groups.values()])) removed += group.purge();
    return removed;
  }
}

export class MemoryBroker {
  private readonly queues = new Map<string, QueueState>();

  /** Every queue that was ever published to or consumed. */
  queueNames(): string[] {
    return [...this.queues.keys()];
  }

  /** The queue's state if it exists, without creating it (inspection must change nothing). */
  existing(name: string): QueueState | undefined {
    return this.queues.get(name);
  }

  queue(name: string): QueueState {
    let queue = this.queues.get(name);
    if (!queue) {
      queue = new QueueState();
      this.queues.set(name, queue);
    }
    return queue;
  }
}

export function createMemoryBroker(): MemoryBroker {
  return new MemoryBroker();
}
