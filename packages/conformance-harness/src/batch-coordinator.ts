import type { Envelope, Transport } from '@thrun/contract';
import { createThrun, silentLogger, type Thrun } from '@thrun/core';

/** The lifecycle event names of the harness's batches: its `then`, `catch`, `finally` and `progress`. */
export const LIFECYCLE = {
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

  /** The first such event, waiting up to `timeoutMs`; rejects saying what did not come. */
  async waitFor(batchId: string, name: keyof typeof LIFECYCLE, timeoutMs: number): Promise<Envelope> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.eventsOf(batchId, name)[0];
      if (found) return found;
      if (Date.now() >= deadline) {
        throw new Error(`no ${LIFECYCLE[name]} of batch ${batchId} within ${timeoutMs} ms`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Stops the engine and closes its transport. */
  close(): Promise<void> {
    return this.thrun.close();
  }
}
