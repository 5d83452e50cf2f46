import type { Envelope, Transport } from '@thrun/contract';
import { createThrun, silentLogger, type Thrun } from '@thrun/core';
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

/** The lifecycle event names of the harness's batches: its `then`, `catch`, `finally` and `progress`. */
const LIFECYCLE = {
  succeeded: 'conformance-harness.batch.succeeded',
  failed: 'conformance-harness.batch.failed',
  finished: 'conformance-harness.batch.finished',
  progress: 'conformance-harness.batch.progress',
} as const;

/**
 * The harness's batch engine: a Thrun bus that creates batches whose steps go to the worker's queue,
 * records the step reports the worker sends (to `meta.batch.report_to`, a queue of the harness's
 * own), and collects the lifecycle events it fires. The worker under test never sees the store.
 */
export class BatchCoordinator {
  private readonly lifecycle: Envelope[] = [];

  private constructor(private readonly thrun: Thrun) {
    thrun.subscribe('conformance-harness.batch.*', (_payload, ctx) => {
      this.lifecycle.push(ctx.envelope);
    });
  }

  /** Starts the engine on its own queue `<queue>-batch-reports`, sending steps to the worker's queue. */
  static async start(transport: Transport, workerQueue: string): Promise<BatchCoordinator> {
    const thrun = createThrun({
      transport,
      source: 'thrun-conformance',
      queue: `${workerQueue}-batch-reports`,
      routes: { 'conformance.*': workerQueue },
      logger: silentLogger,
      batches: { acceptReports: true },
    });
    const coordinator = new BatchCoordinator(thrun);
    await thrun.start();
    return coordinator;
  }

  /** A sequential batch of these steps, with every lifecycle event named; resolves with its id. */
  async run(steps: readonly { event: string; payload: Record<string, unknown> }[]): Promise<string> {
    return await this.thrun
      .batch(steps)
      .then(LIFECYCLE.succeeded)
      .catch(LIFECYCLE.failed)
      .finally(LIFECYCLE.finished)
      .progress(LIFECYCLE.progress);
  }

  /** The lifecycle events of one batch with this name, as the engine handled them. */
  eventsOf(batchId: string, name: keyof typeof LIFECYCLE): Envelope[] {
    return this.lifecycle.filter(
      (envelope) => envelope.event === LIFECYCLE[name] && envelope.payload.batch_id === batchId,
    );
  }

  async waitFor(batchId: string, name: keyof typeof LIFECYCLE, timeoutMs: number): Promise<Envelope> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.eventsOf(batchId, name)[0];
      if (found) return found;
      if (Date.now() >= deadline) {
        throw new ScenarioFailure(`no ${LIFECYCLE[name]} of batch ${batchId} within ${timeoutMs} ms`);
      }
      await sleep(50);
    }
  }

  /** Stops the engine and closes its transport. */
  close(): Promise<void> {
    return this.thrun.close();
  }
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
      const ended = await coordinator.waitFor(batchId, 'finished', context.waitMs);
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
      const caught = await coordinator.waitFor(batchId, 'failed', context.waitMs);
      const failedJob = caught.payload.failed_job as { index?: unknown } | null;
      check(
        failedJob?.index === 1,
        `its catch names the failed step ${JSON.stringify(failedJob)}, expected index 1`,
      );
      const ended = await coordinator.waitFor(batchId, 'finished', context.waitMs);
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
