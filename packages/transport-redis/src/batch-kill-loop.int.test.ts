/**
 * The kill loop: 150 batches of 5 steps (a fifth parallel, a few with a step that always fails) on three
 * @thrun/core worker processes over Redis, one of them SIGKILLed (and replaced) ten times while they work.
 * Every batch must end with exactly one then or catch and one finally, no step may run twice at once,
 * and duplicates must share their event_id. The control drops one publish and must be judged a failure,
 * so the harness is shown to catch a batch that hangs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BatchSpec, Fleet, judge, type Kind, TIMING } from './test-support/batch-harness.js';
import { deleteKeys, requireRedis, uniquePrefix } from './test-support/redis.js';

const prefix = uniquePrefix();
let admin: Awaited<ReturnType<typeof requireRedis>>;

beforeAll(async () => {
  admin = await requireRedis();
});

afterAll(async () => {
  await deleteKeys(admin, prefix);
  admin.disconnect();
});

/** No batch moves for this long: it hangs (longer than any recovery: claim, lease, redelivery). */
const QUIET_MS =
  TIMING.claimTtlMs + TIMING.sweepIntervalMs + TIMING.visibilityTimeoutMs + TIMING.stepLeaseMs + 3_000;

function specFor(i: number): BatchSpec {
  const steps = Array.from({ length: 5 }, (_, index) => ({ ms: 30, fails: i % 15 === 7 && index === 2 }));
  return { mode: i % 5 === 0 ? 'parallel' : 'sequential', steps };
}

interface Verdict {
  hung: string[];
  problems: string[];
  kills: number;
  durationMs: number;
  /** The longest time any batch went without an event of its own (a step run or a lifecycle event). */
  longestGapMs: number;
}

async function killLoop(
  fleet: Fleet,
  options: { batches: number; kills: number; stepsBetweenKills: number; dropPublish?: Kind },
): Promise<Verdict> {
  const started = Date.now();
  const config = options.dropPublish ? { dropPublish: options.dropPublish } : {};
  const initial = [fleet.spawn(config), fleet.spawn(config), fleet.spawn(config)];
  await Promise.all(initial.map((worker) => worker.ready));
  const specs = new Map<string, BatchSpec>();
  await Promise.all(
    Array.from({ length: options.batches }, async (_, i) => {
      const spec = specFor(i);
      specs.set(await fleet.dispatch(spec), spec);
    }),
  );
  const stepEnds = () => fleet.lines.filter((line) => line.type === 'step-end').length;
  const allDone = () => [...specs.keys()].every((id) => fleet.finallyCount(id) > 0);

  let kills = 0;
  while (kills < options.kills && !allDone()) {
    const before = stepEnds();
    // Kill in the middle of the work: after a few more steps have run, never on a timer alone.
    const moved = await fleet.settles(() => stepEnds() >= before + options.stepsBetweenKills, QUIET_MS);
    if (!moved) break;
    const live = fleet.workers.filter((worker) => worker.exitedAt === undefined);
    const victim = live[Math.floor(Math.random() * live.length)]!;
    victim.child.kill('SIGKILL');
    await victim.exited;
    kills++;
    fleet.spawn(config);
  }

  await fleet.settles(allDone, QUIET_MS);
  // Let the last duplicates (redeliveries of the killed workers' messages) arrive.
  await fleet.settles(() => false, TIMING.claimTtlMs + TIMING.visibilityTimeoutMs);

  const hung = [...specs.keys()].filter((id) => fleet.finallyCount(id) === 0);
  const problems: string[] = [];
  let longestGapMs = 0;
  for (const [id, spec] of specs) {
    problems.push(...judge(fleet, id, spec).map((problem) => `${id}: ${problem}`));
    const times = fleet.lines.filter((line) => line.batch === id).map((line) => line.t);
    for (let i = 1; i < times.length; i++) longestGapMs = Math.max(longestGapMs, times[i]! - times[i - 1]!);
  }
  return { hung, problems, kills, durationMs: Date.now() - started, longestGapMs };
}

describe('the kill loop', () => {
  it('150 batches, 3 workers, 10 SIGKILLs: every batch ends once, no step twice at once', async ({
    onTestFinished,
  }) => {
    const fleet = new Fleet(`${prefix}loop:`);
    onTestFinished(() => fleet.close());
    const verdict = await killLoop(fleet, { batches: 150, kills: 10, stepsBetweenKills: 50 });
    console.log(
      `kill loop: ${verdict.kills} kills, ${verdict.durationMs} ms, longest pause of one batch ${verdict.longestGapMs} ms`,
    );
    expect(verdict.kills).toBe(10);
    expect(verdict.hung).toEqual([]);
    expect(verdict.problems).toEqual([]);
  }, 90_000);

  it('control: a worker that drops one publish hangs a batch, and the harness says so', async ({
    onTestFinished,
  }) => {
    const fleet = new Fleet(`${prefix}control:`);
    onTestFinished(() => fleet.close());
    const verdict = await killLoop(fleet, {
      batches: 30,
      kills: 2,
      stepsBetweenKills: 30,
      dropPublish: 'finally',
    });
    expect(fleet.lines.some((line) => line.type === 'dropped')).toBe(true);
    expect(verdict.hung.length).toBeGreaterThan(0);
    expect(verdict.problems.some((problem) => problem.includes('finally: 0 distinct event ids'))).toBe(true);
  }, 60_000);
});
