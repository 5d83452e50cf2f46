import {
  check,
  envelopeBytes,
  harnessMeta,
  newId,
  QUIET_MS,
  type ScenarioContext,
  ScenarioFailure,
  waitForReply,
} from './scenario.js';
import { describeExit, type WorkerProcess } from './worker-process.js';

export const SIGNAL_SCENARIO_NAMES = ['sigterm-drain', 'sigkill-redelivery'] as const;
export type SignalScenarioName = (typeof SIGNAL_SCENARIO_NAMES)[number];

export interface SignalContext extends ScenarioContext {
  /** The queue only the signal scenarios' workers consume. */
  signalQueue: string;
  /** Starts a worker on the signal queue and waits until it is ready. */
  startWorker(workerId: string): Promise<WorkerProcess>;
}

export type Verdict = { passed: true } | { passed: false; why: string };

const SLEEP_MS = 1_500;

/**
 * The signal scenarios, one after another on their own queue: a worker drained by SIGTERM (`w2`), the
 * worker after it (`w3`) killed with SIGKILL mid-message, and the one that must get that message (`w4`).
 * The drain is judged last: its message must not come back to `w3` or `w4` either.
 */
export async function runSignalScenarios(
  context: SignalContext,
  selected: ReadonlySet<SignalScenarioName>,
): Promise<Map<SignalScenarioName, Verdict>> {
  const verdicts = new Map<SignalScenarioName, Verdict>();
  const { observer } = context;
  const workers: WorkerProcess[] = [];
  const start = async (workerId: string) => {
    const worker = await context.startWorker(workerId);
    workers.push(worker);
    return worker;
  };
  const sleepMessage = (id: string) =>
    envelopeBytes('conformance.sleep', { id, ms: SLEEP_MS }, harnessMeta());
  try {
    let drained: string | undefined;
    if (selected.has('sigterm-drain')) {
      verdicts.set(
        'sigterm-drain',
        await judge(async () => {
          const w2 = await start('w2');
          drained = newId();
          await context.publish(context.signalQueue, sleepMessage(drained));
          await waitForReply(context, drained, 'conformance.started');
          w2.signal('SIGTERM');
          const deadline = context.settings.drainTimeoutMs + 5_000;
          const exit = await Promise.race([
            w2.exited,
            new Promise<undefined>((r) => setTimeout(() => r(undefined), deadline)),
          ]);
          check(exit !== undefined, `still running ${deadline} ms after SIGTERM`);
          // The broker accepted the reply before the worker exited, but the observer reads the reply
          // queue on its own schedule (a Kafka fetch may lag behind a quick exit): wait a little for it.
          const sleptId = drained;
          await observer
            .waitFor(
              () => observer.repliesFor(sleptId, 'conformance.slept')[0],
              QUIET_MS,
              'conformance.slept',
            )
            .catch(() => undefined);
          check(
            observer.repliesFor(drained, 'conformance.slept').length === 1,
            'the in-flight handler did not finish',
          );
          check(exit.code === 0, `exited with ${describeExit(exit)} after SIGTERM, expected status 0`);
        }, workers),
      );
    }
    const w3 = await start('w3');
    if (selected.has('sigkill-redelivery')) {
      verdicts.set(
        'sigkill-redelivery',
        await judge(async () => {
          const id = newId();
          await context.publish(context.signalQueue, sleepMessage(id));
          const first = await waitForReply(context, id, 'conformance.started', 0, (r) => r.worker === 'w3');
          w3.signal('SIGKILL');
          await w3.exited;
          await start('w4');
          const again = await waitForReply(
            context,
            id,
            'conformance.started',
            context.settings.leaseMs,
            (r) => r.worker === 'w4',
          );
          // Kafka keeps no delivery count: the next owner of the partition reads the attempt the
          // message's header says (protocol/kafka.md), so the cut-short delivery is not counted there.
          const counted = context.transport !== 'kafka';
          const later = counted
            ? (again.attempt ?? 0) > (first.attempt ?? 0)
            : (again.attempt ?? 0) >= (first.attempt ?? 0);
          check(later, `redelivered as attempt ${again.attempt} after attempt ${first.attempt}`);
          await waitForReply(context, id, 'conformance.slept', 0, (r) => r.worker === 'w4');
        }, workers),
      );
    } else {
      await new Promise((resolve) => setTimeout(resolve, context.settings.leaseMs));
    }
    if (drained !== undefined && verdicts.get('sigterm-drain')?.passed) {
      // Long enough for a lease the drained worker left behind to have expired.
      await new Promise((resolve) => setTimeout(resolve, QUIET_MS));
      const again = observer.repliesFor(drained, 'conformance.started').length;
      if (again !== 1)
        verdicts.set('sigterm-drain', {
          passed: false,
          why: `redelivered after the drain (${again} starts)`,
        });
    }
  } finally {
    await Promise.all(workers.map((worker) => worker.stop()));
  }
  return verdicts;
}

async function judge(run: () => Promise<void>, workers: readonly WorkerProcess[]): Promise<Verdict> {
  try {
    await run();
    return { passed: true };
  } catch (error) {
    const why = error instanceof ScenarioFailure ? error.message : String(error);
    const output = workers.map((worker) => worker.recentOutput()).filter((text) => text !== '');
    return { passed: false, why: output.length > 0 ? `${why}\n${output.join('\n')}` : why };
  }
}
