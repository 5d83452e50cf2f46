import { describe, expect, it } from 'vitest';
import { runConformance, SCENARIO_NAMES, type ScenarioResult } from './run.js';
import { referenceWorker } from './test-support/reference.js';
import { TRANSPORT_NAMES } from './worker-env.js';

// Every transport at once: they are independent brokers and queues, and each run mostly waits.
const runs = new Map(
  TRANSPORT_NAMES.map((transport) => [transport, runConformance({ transport, worker: referenceWorker() })]),
);

// Each test awaits its run; a broker that is not there fails them, not the file.
for (const run of runs.values()) run.catch(() => {});

describe.each(TRANSPORT_NAMES)('the reference worker on %s', (transport) => {
  it('passes every scenario', async () => {
    const report = await runs.get(transport)!;
    const failures = report.results.filter((result: ScenarioResult) => result.status !== 'passed');
    expect(failures).toEqual([]);
    expect(report.results.map((result) => result.name)).toEqual(SCENARIO_NAMES);
    expect(report.summary).toBe(`${SCENARIO_NAMES.length} passed, 0 failed`);
  });
});
