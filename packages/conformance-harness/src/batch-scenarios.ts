import { type BatchCoordinator, LIFECYCLE } from './batch-coordinator.js';
import {
  check,
  expectExactly,
  newId,
  QUIET_MS,
  type Scenario,
  type ScenarioContext,
  ScenarioFailure,
  sleep,
  waitForReply,
} from './scenario.js';

/** The batch's first lifecycle event `name`, within the scenario's wait. */
function lifecycleEvent(
  context: ScenarioContext,
  coordinator: BatchCoordinator,
  batchId: string,
  name: keyof typeof LIFECYCLE,
) {
  return coordinator.waitFor(batchId, name, context.waitMs).catch((error: Error) => {
    throw new ScenarioFailure(error.message);
  });
}

/** Each event of the batch's lifecycle, after a quiet period: exactly as many as expected. */
async function expectLifecycle(
  coordinator: BatchCoordinator,
  batchId: string,
  expected: Record<'succeeded' | 'failed' | 'finished', number>,
): Promise<void> {
  await sleep(QUIET_MS);
  for (const [name, count] of Object.entries(expected) as [keyof typeof expected, number][]) {
    const seen = coordinator.eventsOf(batchId, name).length;
    check(seen === count, `${seen} × ${LIFECYCLE[name]} of the batch, expected exactly ${count}`);
  }
}

/** A step's echo, checked to carry the step's `meta.batch` as the engine dispatched it. */
async function expectStepEcho(context: ScenarioContext, id: string, batchId: string, index: number) {
  const reply = await waitForReply(context, id, 'conformance.echoed');
  const received = reply.envelope.payload.received as { meta?: { batch?: Record<string, unknown> } };
  const batch = received?.meta?.batch;
  check(
    batch?.id === batchId && batch.index === index,
    `step ${index} arrived with meta.batch ${JSON.stringify(batch)}, expected batch ${batchId} index ${index}`,
  );
  return reply;
}

/** The scenarios that run batches on the main worker `w1` (protocol/conformance.md §4). */
export const BATCH_SCENARIOS: readonly Scenario[] = [
  {
    name: 'batch-steps',
    async run(context) {
      const coordinator = await context.batchCoordinator();
      const ids = [newId(), newId(), newId()];
      const batchId = await coordinator.run(
        ids.map((id) => ({ event: 'conformance.echo', payload: { id } })),
      );
      // Sequential: each step is dispatched only once the previous one was reported.
      let previous = 0;
      for (const [index, id] of ids.entries()) {
        const reply = await expectStepEcho(context, id, batchId, index);
        check(reply.at >= previous, `step ${index} ran before step ${index - 1} finished`);
        previous = reply.at;
      }
      const ended = await lifecycleEvent(context, coordinator, batchId, 'finished');
      check(
        ended.payload.status === 'succeeded',
        `its finally says status ${JSON.stringify(ended.payload.status)}`,
      );
      await expectLifecycle(coordinator, batchId, { succeeded: 1, failed: 0, finished: 1 });
      for (const id of ids) await expectExactly(context.observer, id, 'conformance.echoed', 1);
    },
  },
  {
    name: 'batch-step-failed',
    async run(context) {
      const coordinator = await context.batchCoordinator();
      const [first, failing, never] = [newId(), newId(), newId()];
      const batchId = await coordinator.run([
        { event: 'conformance.echo', payload: { id: first } },
        { event: 'conformance.permanent', payload: { id: failing } },
        { event: 'conformance.echo', payload: { id: never } },
      ]);
      await expectStepEcho(context, first, batchId, 0);
      const caught = await lifecycleEvent(context, coordinator, batchId, 'failed');
      const failedJob = caught.payload.failed_job as { index?: unknown } | null;
      check(
        failedJob?.index === 1,
        `its catch names the failed step ${JSON.stringify(failedJob)}, expected index 1`,
      );
      const ended = await lifecycleEvent(context, coordinator, batchId, 'finished');
      check(
        ended.payload.status === 'failed',
        `its finally says status ${JSON.stringify(ended.payload.status)}`,
      );
      await expectLifecycle(coordinator, batchId, { succeeded: 0, failed: 1, finished: 1 });
      check(
        context.observer.repliesFor(never).length === 0,
        'the step after the failed one ran, though the batch had failed',
      );
    },
  },
];
