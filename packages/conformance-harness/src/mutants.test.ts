import { describe, expect, it } from 'vitest';
import { MUTANTS, type MutantName } from './mutants.js';
import { runConformance } from './run.js';
import { referenceWorker } from './test-support/reference.js';

const names = Object.keys(MUTANTS) as MutantName[];

/**
 * Each mutant runs the scenarios it must fail, plus `handled-once`, which it must still pass: so a
 * failure is the scenario catching the defect, not a worker that does not work at all. All at once on
 * Redis Lists, with a shorter wait, since most of a failing run is waiting for what never comes.
 */
const runs = new Map(
  names.map((name) => [
    name,
    runConformance({
      transport: 'redis',
      worker: referenceWorker(name),
      scenarios: ['handled-once', ...MUTANTS[name].fails],
      waitMs: 6_000,
    }),
  ]),
);

// Each test awaits its run; a broker that is not there fails them, not the file.
for (const run of runs.values()) run.catch(() => {});

/**
 * An early ack is caught on the other transports as well. On Kafka the offset it resolves is committed
 * only once the handler returned (kafkajs commits from the batch loop), so a kill mid-handler still
 * brings the message back there: only the retry scenarios catch it.
 */
const elsewhere = (['redis-streams', 'rabbitmq', 'kafka'] as const).map((transport) => ({
  transport,
  fails: MUTANTS['ack-before-handling'].fails.filter(
    (scenario) => transport !== 'kafka' || scenario !== 'sigkill-redelivery',
  ),
  run: runConformance({
    transport,
    worker: referenceWorker('ack-before-handling'),
    scenarios: ['handled-once', ...MUTANTS['ack-before-handling'].fails],
    waitMs: 6_000,
  }),
}));
for (const { run } of elsewhere) run.catch(() => {});

describe.each(names)('the mutant %s', (name) => {
  it(`fails exactly the scenarios that catch it: ${MUTANTS[name].defect}`, async () => {
    const report = await runs.get(name)!;
    const failed = report.results.filter((result) => result.status === 'failed').map((result) => result.name);
    expect(failed.sort()).toEqual([...MUTANTS[name].fails].sort());
    expect(report.results.find((result) => result.name === 'handled-once')?.status).toBe('passed');
  });
});

describe.each(elsewhere)('the mutant ack-before-handling on $transport', ({ run, fails }) => {
  it('fails the scenarios that catch it there too', async () => {
    const report = await run;
    const failed = report.results.filter((result) => result.status === 'failed').map((result) => result.name);
    expect(failed.sort()).toEqual([...fails].sort());
  });
});
