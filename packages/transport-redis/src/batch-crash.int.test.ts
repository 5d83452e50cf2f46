/**
 * A batch never hangs, whoever dies: @thrun/core workers in child processes on the Redis transport and
 * batch store, one of them SIGKILLed at each crash point of a transition (before recording a step, after
 * recording and before publishing, after publishing and before the ack), for each kind of transition
 * (a middle step: progress and the next step; the last step: progress, then, finally; a failing step:
 * catch, finally), in sequential and parallel batches. Then a kill loop with a control that must fail.
 *
 * The claim TTL (2.5 s) outlives the visibility timeout (0.8 s): the step's redelivery finds the emissions
 * still claimed by the dead worker, so only the outbox sweep can publish them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type BatchSpec,
  Fleet,
  judge,
  type Kind,
  OUTBOX_RECOVERY_BOUND_MS,
  TIMING,
  type WorkerConfig,
} from './test-support/batch-harness.js';
import { deleteKeys, requireRedis, uniquePrefix } from './test-support/redis.js';

const prefix = uniquePrefix();
let fleets = 0;
let admin: Awaited<ReturnType<typeof requireRedis>>;
const measured: { name: string; recoveryMs: number; finishedMs: number }[] = [];

beforeAll(async () => {
  admin = await requireRedis();
});

afterAll(async () => {
  if (measured.length > 0) {
    console.log('kill → stuck event published (ms), kill → finally handled (ms):');
    for (const m of measured) console.log(`  ${m.name}: ${m.recoveryMs} / ${m.finishedMs}`);
  }
  await deleteKeys(admin, prefix);
  admin.disconnect();
});

/** A fleet of its own per test (the tests run concurrently), closed when that test ends. */
function fleet(onTestFinished: (fn: () => Promise<void>) => void): Fleet {
  const created = new Fleet(`${prefix}${fleets++}:`);
  onTestFinished(() => created.close());
  return created;
}

interface Transition {
  name: string;
  spec: BatchSpec;
  /** The kind of emission whose transition the crash hits, and the step it records. */
  kind: Kind;
  index: number;
}

// Step durations decide which parallel step records last. The step after a sequential first step runs
// long, so a republished copy of it arrives while it still runs: only its lease keeps it single.
const TRANSITIONS: Record<'sequential' | 'parallel', Transition[]> = {
  sequential: [
    {
      name: 'a first step (progress, next step)',
      spec: { mode: 'sequential', steps: [{ ms: 20 }, { ms: 3_000 }, { ms: 20 }] },
      kind: 'step',
      index: 0,
    },
    {
      name: 'the last step (progress, then, finally)',
      spec: { mode: 'sequential', steps: [{ ms: 20 }, { ms: 20 }] },
      kind: 'then',
      index: 1,
    },
    {
      name: 'a failing step (catch, finally)',
      spec: { mode: 'sequential', steps: [{ ms: 20 }, { ms: 20, fails: true }, { ms: 20 }] },
      kind: 'catch',
      index: 1,
    },
  ],
  parallel: [
    {
      name: 'a first step (progress)',
      spec: { mode: 'parallel', steps: [{ ms: 20 }, { ms: 400 }, { ms: 800 }] },
      kind: 'progress',
      index: 0,
    },
    {
      name: 'the last step (progress, then, finally)',
      spec: { mode: 'parallel', steps: [{ ms: 20 }, { ms: 100 }, { ms: 400 }] },
      kind: 'then',
      index: 2,
    },
    {
      name: 'a failing step (catch, finally)',
      spec: { mode: 'parallel', steps: [{ ms: 20 }, { ms: 300, fails: true }, { ms: 600 }] },
      kind: 'catch',
      index: 1,
    },
  ],
};

const POINTS = ['before-record', 'after-record', 'after-publish'] as const;

describe.concurrent('a worker SIGKILLed at each crash point of a batch transition', () => {
  for (const mode of ['sequential', 'parallel'] as const) {
    for (const transition of TRANSITIONS[mode]) {
      for (const point of POINTS) {
        const name = `${mode}, ${transition.name}, ${point}`;
        it(name, async ({ onTestFinished }) => {
          const run = fleet(onTestFinished);
          const crash: WorkerConfig['crash'] =
            point === 'before-record' ? { point, index: transition.index } : { point, kind: transition.kind };
          const doomed = run.spawn({ crash });
          await doomed.ready;
          const id = await run.dispatch(transition.spec);
          const killedAt = await doomed.exited;
          const crashLine = run.lines.find((line) => line.type === 'crash');
          expect(crashLine, 'the crash point was reached').toMatchObject({ point });

          const rescuer = run.spawn();
          await rescuer.ready;
          const readyAfterMs = Date.now() - killedAt;
          await run.until(() => run.finallyCount(id) > 0, 20_000, `${name}: finally`);
          // Duplicates may still arrive (the dead worker's unacknowledged deliveries): let them settle.
          await run.settles(() => false, TIMING.claimTtlMs + TIMING.visibilityTimeoutMs);
          expect(judge(run, id, transition.spec)).toEqual([]);

          // The events the crashed transition decided (or, before recording, the step's own rerun).
          const decided = (crashLine as { keys?: string[] }).keys ?? [];
          const progressDone = decided.find((key) => key.startsWith('progress:'))?.slice('progress:'.length);
          const stuck = run.lines.find((line) => {
            if (line.pid !== rescuer.pid || line.batch !== id) return false;
            if (point === 'before-record')
              return line.type === 'step-start' && line.index === transition.index;
            if (transition.kind === 'step')
              return line.type === 'step-start' && line.index === transition.index + 1;
            if (transition.kind === 'progress') {
              return (
                line.kind === 'progress' && (progressDone === undefined || String(line.done) === progressDone)
              );
            }
            return line.type === 'lifecycle' && line.kind === transition.kind;
          });
          const finished = run.of(id, 'finally').find((line) => line.pid === rescuer.pid);
          expect(stuck, 'the rescuer handled what the crash left').toBeDefined();
          const recoveryMs = stuck!.t - killedAt;
          measured.push({ name, recoveryMs, finishedMs: (finished?.t ?? Number.NaN) - killedAt });
          if (point === 'after-record') {
            // Only the sweep can publish these: the bound holds from when a worker runs again; the
            // slack is the time from publishing to a handler starting on a shared, busy machine.
            expect(recoveryMs).toBeLessThanOrEqual(Math.max(readyAfterMs, OUTBOX_RECOVERY_BOUND_MS) + 2_000);
          }
        });
      }
    }
  }
});
