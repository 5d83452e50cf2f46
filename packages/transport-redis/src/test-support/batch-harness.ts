/**
 * Runs @thrun/core workers (test-support/batch-worker.mjs) as child processes on the Redis transport and
 * batch store, kills them with SIGKILL, and judges what they printed: the batch crash tests and the
 * kill loop share it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createThrun, silentLogger, type Thrun } from '@thrun/core';
import { redisBatchStore } from '../redis-batch-store.js';
import { redisTransport } from '../redis-transport.js';
import { REDIS_URL } from './redis.js';

const workerScript = fileURLToPath(new URL('./batch-worker.mjs', import.meta.url));

/**
 * The timings every test worker runs with. The claim outlives the visibility timeout (and a worker's
 * start-up) on purpose: a redelivered step then finds the dead worker's emissions still claimed, and
 * only the outbox sweep can publish them.
 */
export const TIMING = {
  visibilityTimeoutMs: 800,
  claimTtlMs: 2_500,
  sweepIntervalMs: 200,
  stepLeaseMs: 1_200,
} as const;

/** The documented bound: what a dead worker decided is published within this once another one runs. */
export const OUTBOX_RECOVERY_BOUND_MS = TIMING.claimTtlMs + TIMING.sweepIntervalMs;

export type Kind = 'step' | 'progress' | 'then' | 'catch' | 'finally';

export interface Line {
  pid: number;
  t: number;
  type: 'ready' | 'step-start' | 'step-end' | 'lifecycle' | 'crash' | 'dropped';
  batch?: string;
  index?: number;
  kind?: Kind;
  done?: number;
  eventId?: string;
  point?: string;
}

export interface WorkerConfig {
  crash?: { point: 'before-record' | 'after-record' | 'after-publish'; kind?: Kind; index?: number };
  dropPublish?: Kind;
  concurrency?: number;
}

export interface TestWorker {
  child: ChildProcess;
  pid: number;
  ready: Promise<void>;
  /** Resolves with the time the process ended. */
  exited: Promise<number>;
  exitedAt?: number;
}

/** Workers, the lines they print, and a dispatcher (a bus that is never started) on one key prefix. */
export class Fleet {
  readonly lines: Line[] = [];
  readonly workers: TestWorker[] = [];
  private readonly dispatcher: Thrun;
  private readonly listeners = new Set<() => void>();

  constructor(
    readonly keyPrefix: string,
    readonly queue = 'crash-q',
  ) {
    this.dispatcher = createThrun({
      transport: redisTransport({ url: REDIS_URL, keyPrefix }),
      source: 'crash-test',
      logger: silentLogger,
      queue,
      batches: { store: redisBatchStore({ url: REDIS_URL, keyPrefix }) },
    });
  }

  spawn(config: WorkerConfig = {}): TestWorker {
    const child = spawn(
      process.execPath,
      [
        workerScript,
        JSON.stringify({
          url: REDIS_URL,
          keyPrefix: this.keyPrefix,
          queue: this.queue,
          concurrency: config.concurrency ?? 4,
          ...TIMING,
          ...(config.crash ? { crash: config.crash } : {}),
          ...(config.dropPublish ? { dropPublish: config.dropPublish } : {}),
        }),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let markReady: () => void = () => {};
    const ready = new Promise<void>((resolve, reject) => {
      markReady = resolve;
      child.once('exit', (code, signal) =>
        reject(new Error(`worker exited before ready (${code ?? signal})`)),
      );
    });
    ready.catch(() => {});
    const worker: TestWorker = {
      child,
      pid: child.pid!,
      ready,
      exited: new Promise<number>((resolve) =>
        child.once('exit', () => {
          worker.exitedAt = Date.now();
          resolve(worker.exitedAt);
          this.notify();
        }),
      ),
    };
    createInterface({ input: child.stdout! }).on('line', (text) => {
      const line = JSON.parse(text) as Line;
      if (line.type === 'ready') markReady();
      this.lines.push(line);
      this.notify();
    });
    this.workers.push(worker);
    return worker;
  }

  /** Waits (on the lines, never a fixed sleep) until `condition` holds, or rejects after `timeoutMs`. */
  until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!condition()) return;
        clearTimeout(timer);
        this.listeners.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.listeners.delete(check);
        const seen = this.lines.map((line) => JSON.stringify(line)).join('\n');
        reject(new Error(`${what}: not within ${timeoutMs} ms; the workers printed:\n${seen}`));
      }, timeoutMs);
      this.listeners.add(check);
    });
  }

  /**
   * Resolves once `condition` holds (true), or once nothing was printed for `quietMs` (false): the
   * fleet has gone still with the condition unmet.
   */
  settles(condition: () => boolean, quietMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout;
      const arm = () => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          this.listeners.delete(check);
          resolve(condition());
        }, quietMs);
      };
      const check = () => {
        if (condition()) {
          clearTimeout(timer);
          this.listeners.delete(check);
          resolve(true);
        } else arm();
      };
      this.listeners.add(check);
      check();
    });
  }

  dispatch(spec: BatchSpec): Promise<string> {
    const jobs = spec.steps.map((step, i) => ({
      event: step.fails ? 'crash_fail' : 'crash_step',
      payload: { i, ms: step.ms },
    }));
    return Promise.resolve(
      this.dispatcher
        .batch(jobs, { mode: spec.mode })
        .then('crash.then')
        .catch('crash.catch')
        .finally('crash.finally')
        .progress('crash.progress'),
    ) as Promise<string>;
  }

  finallyCount(batch: string): number {
    return new Set(this.of(batch, 'finally').map((line) => line.eventId)).size;
  }

  of(batch: string, kind: Kind | 'step-start'): Line[] {
    return this.lines.filter((line) =>
      kind === 'step-start'
        ? line.type === 'step-start' && line.batch === batch
        : line.type === 'lifecycle' && line.batch === batch && line.kind === kind,
    );
  }

  async close(): Promise<void> {
    for (const worker of this.workers) if (worker.exitedAt === undefined) worker.child.kill('SIGKILL');
    await Promise.all(this.workers.map((worker) => worker.exited));
    await this.dispatcher.close({ drainTimeoutMs: 100 });
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }
}

export interface BatchSpec {
  mode: 'sequential' | 'parallel';
  steps: { ms: number; fails?: boolean }[];
}

/** What must hold of a batch that ran: the problems found, none when it is right. */
export function judge(fleet: Fleet, id: string, spec: BatchSpec): string[] {
  const problems: string[] = [];
  const fails = spec.steps.some((step) => step.fails);
  const distinct = (kind: Kind) => new Set(fleet.of(id, kind).map((line) => line.eventId)).size;
  const expect = (kind: Kind, count: number) => {
    if (distinct(kind) !== count)
      problems.push(`${kind}: ${distinct(kind)} distinct event ids, expected ${count}`);
  };
  expect('then', fails ? 0 : 1);
  expect('catch', fails ? 1 : 0);
  expect('finally', 1);
  // Duplicates of one lifecycle event (same kind and count) carry one event_id.
  const ids = new Map<string, Set<string>>();
  for (const line of fleet.lines) {
    if (line.type !== 'lifecycle' || line.batch !== id) continue;
    const key = `${line.kind}:${line.done}`;
    ids.set(key, (ids.get(key) ?? new Set()).add(line.eventId!));
  }
  for (const [key, set] of ids) if (set.size > 1) problems.push(`${key} came with ${set.size} event ids`);
  if (!fails) {
    const done = [...new Set(fleet.of(id, 'progress').map((line) => line.done))].sort((a, b) => a! - b!);
    const all = spec.steps.map((_, i) => i + 1);
    if (JSON.stringify(done) !== JSON.stringify(all))
      problems.push(`progress counts ${JSON.stringify(done)}`);
  }
  problems.push(...overlaps(fleet, id));
  return problems;
}

/** Two runs of one step at the same time (a run of a killed worker ends when its process ended). */
function overlaps(fleet: Fleet, id: string): string[] {
  const exitOf = new Map(fleet.workers.map((worker) => [worker.pid, worker.exitedAt ?? Infinity]));
  const runs = new Map<number, { from: number; to: number; pid: number }[]>();
  const open = new Map<string, { from: number; pid: number; index: number }[]>();
  for (const line of fleet.lines) {
    if (line.batch !== id) continue;
    const key = `${line.pid}:${line.index}`;
    if (line.type === 'step-start') {
      open.set(key, [...(open.get(key) ?? []), { from: line.t, pid: line.pid, index: line.index! }]);
    } else if (line.type === 'step-end') {
      const run = open.get(key)?.shift();
      if (run) runs.set(run.index, [...(runs.get(run.index) ?? []), { ...run, to: line.t }]);
    }
  }
  for (const list of open.values()) {
    for (const run of list) {
      runs.set(run.index, [...(runs.get(run.index) ?? []), { ...run, to: exitOf.get(run.pid) ?? Infinity }]);
    }
  }
  const problems: string[] = [];
  for (const [index, list] of runs) {
    list.sort((a, b) => a.from - b.from);
    for (let i = 1; i < list.length; i++) {
      if (list[i]!.from < list[i - 1]!.to) problems.push(`step ${index} ran twice at once`);
    }
  }
  return problems;
}
