import { randomUUID } from 'node:crypto';
import type { BatchCoordinator } from './batch-coordinator.js';
import type { ObservedDeadLetter, Observer, Reply } from './observer.js';
import type { TransportName, WorkerSettings } from './worker-env.js';

/** How long the harness waits for a reply or a dead letter, beyond the backoff and lease it expects. */
export const DEFAULT_WAIT_MS = 20_000;
/** How long the harness watches for what must not happen (a second copy, a redelivery). */
export const QUIET_MS = 1_500;

/** What every scenario gets: the main queue's settings, the observer, a way to publish. */
export interface ScenarioContext {
  transport: TransportName;
  /** The settings of the main worker (`w1`); the queue is the main queue. */
  settings: WorkerSettings;
  observer: Observer;
  /** How long to wait for what a scenario expects, beyond the backoff and lease it expects. */
  waitMs: number;
  publish(queue: string, body: Uint8Array, key?: string): Promise<void>;
  /** The harness's batch engine, started on first use and shared by the batch scenarios. */
  batchCoordinator(): Promise<BatchCoordinator>;
  /** Resolves once every other scenario of the main worker has finished. */
  othersFinished(): Promise<void>;
}

export interface Scenario {
  name: string;
  run(context: ScenarioContext): Promise<void>;
}

/** A scenario's verdict: thrown by a check, reported as the reason it failed. */
export class ScenarioFailure extends Error {}

export function check(condition: unknown, why: string): asserts condition {
  if (!condition) throw new ScenarioFailure(why);
}

export function newId(): string {
  return `c-${randomUUID()}`;
}

const utf8 = new TextEncoder();

export function bytesOf(text: string): Uint8Array {
  return utf8.encode(text);
}

export function harnessMeta(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    event_id: randomUUID(),
    timestamp: new Date().toISOString(),
    source: 'thrun-conformance',
    ...extra,
  };
}

/** An envelope's bytes, as a producer of any runtime writes them. */
export function envelopeBytes(
  event: string,
  payload: Record<string, unknown>,
  meta?: Record<string, unknown>,
) {
  return bytesOf(JSON.stringify(meta === undefined ? { event, payload } : { event, payload, meta }));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits (`context.waitMs` + `extraMs`) for the first reply `event` for `id` that `accept` takes. */
export function waitForReply(
  context: ScenarioContext,
  id: string,
  event: string,
  extraMs = 0,
  accept: (reply: Reply) => boolean = () => true,
): Promise<Reply> {
  const { observer } = context;
  return observer
    .waitFor(
      () => observer.repliesFor(id, event).find(accept),
      context.waitMs + extraMs,
      `${event} for ${id}`,
    )
    .catch((error: Error) => {
      throw new ScenarioFailure(error.message);
    });
}

/** Waits for the dead letter of exactly these bytes, and checks its description. */
export async function expectDeadLetter(
  context: ScenarioContext,
  body: Uint8Array,
  expected: { code: string; attempts: number; queue?: string },
  extraMs = 0,
): Promise<ObservedDeadLetter> {
  const { observer } = context;
  const queue = expected.queue ?? context.settings.queue;
  const dead = await observer
    .waitFor(
      () => observer.deadLettersOf(body)[0],
      context.waitMs + extraMs,
      'dead letter with the original bytes',
    )
    .catch((error: Error) => {
      const unreadable = observer.deadLetters.filter((letter) => letter.letter === undefined).length;
      throw new ScenarioFailure(
        unreadable > 0 ? `${error.message} (${unreadable} unreadable dead letters seen)` : error.message,
      );
    });
  const letter = dead.letter!;
  check(dead.problems.length === 0, dead.problems.join('; '));
  check(
    letter.error.code === expected.code,
    `dead-letter reason ${JSON.stringify(letter.error.code)}, expected ${JSON.stringify(expected.code)}`,
  );
  check(
    letter.attempts === expected.attempts,
    `dead letter says ${letter.attempts} attempts, expected ${expected.attempts}`,
  );
  check(
    letter.queue === queue,
    `dead letter names queue ${JSON.stringify(letter.queue)}, expected ${JSON.stringify(queue)}`,
  );
  return dead;
}

/** After a quiet period: exactly `count` replies `event` for `id`. */
export async function expectExactly(
  observer: Observer,
  id: string,
  event: string,
  count: number,
): Promise<Reply[]> {
  await sleep(QUIET_MS);
  const replies = observer.repliesFor(id, event);
  check(replies.length === count, `${replies.length} × ${event} for ${id}, expected exactly ${count}`);
  return replies;
}
