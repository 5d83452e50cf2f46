import { randomBytes } from 'node:crypto';
import type { Transport } from '@thrun/contract';
import { BatchCoordinator } from './batch-coordinator.js';
import { BATCH_SCENARIOS } from './batch-scenarios.js';
import { Observer } from './observer.js';
import { DEFAULT_WAIT_MS, type ScenarioContext, ScenarioFailure } from './scenario.js';
import { MAIN_SCENARIOS } from './scenarios.js';
import { runSignalScenarios, SIGNAL_SCENARIO_NAMES } from './signal-scenarios.js';
import { createTransport, defaultBrokerUrl } from './transports.js';
import type { TransportName, WorkerSettings } from './worker-env.js';
import { WorkerProcess } from './worker-process.js';

/** Every scenario, in the order protocol/conformance.md lists them. */
export const SCENARIO_NAMES: readonly string[] = [
  ...MAIN_SCENARIOS.map((s) => s.name),
  ...BATCH_SCENARIOS.map((s) => s.name),
  ...SIGNAL_SCENARIO_NAMES,
];

export interface ConformanceOptions {
  transport: TransportName;
  /** The worker's command line, run through `/bin/sh -c`. */
  worker: string;
  /** The broker; by default where the repository's broker scripts put it (THRUN_REDIS_URL, …). */
  url?: string;
  /** Only these scenarios (all when absent or empty). */
  scenarios?: readonly string[];
  /** Scenarios the runtime declares unsupported, with the reason. */
  unsupported?: ReadonlyMap<string, string>;
  /** How long to wait for what a scenario expects (beyond backoffs and leases); 20 s by default. */
  waitMs?: number;
  /** Called with each scenario's line as it is decided. */
  report?: (line: string, result: ScenarioResult) => void;
}

export type ScenarioStatus = 'passed' | 'failed' | 'skipped';

export interface ScenarioResult {
  name: string;
  status: ScenarioStatus;
  /** Why it failed, or the reason it was skipped. */
  detail?: string;
  durationMs: number;
}

export interface ConformanceReport {
  results: ScenarioResult[];
  passed: number;
  failed: number;
  skipped: number;
  /** `N passed, M failed` (and `, K skipped`). */
  summary: string;
}

/** The settings every worker of a run shares; the queue and the id differ. */
const TIMINGS = {
  concurrency: 4,
  maxAttempts: 3,
  backoffMs: 200,
  maxBackoffMs: 2_000,
  drainTimeoutMs: 10_000,
  maxPayloadBytes: 65_536,
} as const;

/** Kafka's brokers refuse a session shorter than 6 s (`group.min.session.timeout.ms`). */
const LEASE_MS: Record<TransportName, number> = {
  redis: 3_000,
  'redis-streams': 3_000,
  rabbitmq: 3_000,
  kafka: 6_000,
};

/** Runs the selected scenarios against the worker command and reports each one. */
export async function runConformance(options: ConformanceOptions): Promise<ConformanceReport> {
  const selected = selectScenarios(options.scenarios);
  const url = options.url ?? defaultBrokerUrl(options.transport);
  const base = `conformance-${randomBytes(5).toString('hex')}`;
  const settings: WorkerSettings = {
    transport: options.transport,
    url,
    queue: base,
    replyQueue: `${base}-replies`,
    group: 'conformance',
    workerId: 'w1',
    leaseMs: LEASE_MS[options.transport],
    ...TIMINGS,
  };
  const results: ScenarioResult[] = [];
  const record = (name: string, outcome: { passed: boolean; why?: string }, startedAt: number) => {
    const result = judged(name, outcome, options.unsupported?.get(name), Date.now() - startedAt);
    results.push(result);
    options.report?.(formatResult(result), result);
  };

  const transport = createTransport(options.transport, url);
  const observer = new Observer(transport);
  const workers: WorkerProcess[] = [];
  let coordinator: Promise<BatchCoordinator> | undefined;
  try {
    await observer.observeReplies(settings.replyQueue);
    await observer.observeDeadLetters(settings.queue);
    const context: ScenarioContext = {
      transport: options.transport,
      settings,
      observer,
      waitMs: options.waitMs ?? DEFAULT_WAIT_MS,
      publish: (queue, body, key) => transport.publish(queue, [key === undefined ? { body } : { body, key }]),
      batchCoordinator: () => {
        coordinator ??= BatchCoordinator.start(createTransport(options.transport, url), settings.queue);
        return coordinator;
      },
      othersFinished: () => Promise.resolve(),
    };
    const startWorker = async (workerId: string, queue: string) => {
      const worker = new WorkerProcess(options.worker, { ...settings, workerId, queue });
      workers.push(worker);
      await worker.ready;
      return worker;
    };
    const main = [...MAIN_SCENARIOS, ...BATCH_SCENARIOS].filter((scenario) => selected.has(scenario.name));
    const signals = new Set(SIGNAL_SCENARIO_NAMES.filter((name) => selected.has(name)));
    const startedAt = Date.now();
    await Promise.all([runMain(), signals.size > 0 ? runSignals() : undefined]);

    async function runMain() {
      if (main.length === 0) return;
      let w1: WorkerProcess;
      try {
        w1 = await startWorker('w1', settings.queue);
      } catch (error) {
        for (const scenario of main) record(scenario.name, { passed: false, why: String(error) }, startedAt);
        return;
      }
      // Each scenario's end, for the scenarios judged on what the whole run put on the wire.
      const ends = main.map(() => {
        let end = () => {};
        const ended = new Promise<void>((resolve) => {
          end = resolve;
        });
        return { ended, end };
      });
      await Promise.all(
        main.map(async (scenario, index) => {
          const began = Date.now();
          const others = ends.filter((_, other) => other !== index).map(({ ended }) => ended);
          try {
            await scenario.run({ ...context, othersFinished: () => Promise.all(others).then(() => {}) });
            record(scenario.name, { passed: true }, began);
          } catch (error) {
            const why = error instanceof ScenarioFailure ? error.message : String(error);
            record(
              scenario.name,
              { passed: false, why: w1.running ? why : `${why} (worker w1 exited)\n${w1.recentOutput()}` },
              began,
            );
          } finally {
            ends[index]!.end();
          }
        }),
      );
    }

    async function runSignals() {
      const signalQueue = `${base}-signals`;
      try {
        const verdicts = await runSignalScenarios(
          { ...context, signalQueue, startWorker: (workerId) => startWorker(workerId, signalQueue) },
          signals,
        );
        for (const [name, verdict] of verdicts) {
          record(name, verdict.passed ? { passed: true } : { passed: false, why: verdict.why }, startedAt);
        }
      } catch (error) {
        for (const name of signals) {
          if (!results.some((result) => result.name === name))
            record(name, { passed: false, why: String(error) }, startedAt);
        }
      }
    }
  } finally {
    await Promise.all(workers.map((worker) => worker.stop()));
    if (coordinator) await coordinator.then((started) => started.close()).catch(() => {});
    await observer.close();
    await closeQuietly(transport);
  }
  results.sort((a, b) => SCENARIO_NAMES.indexOf(a.name) - SCENARIO_NAMES.indexOf(b.name));
  const count = (status: ScenarioStatus) => results.filter((result) => result.status === status).length;
  const [passed, failed, skipped] = [count('passed'), count('failed'), count('skipped')];
  const summary = `${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`;
  return { results, passed, failed, skipped, summary };
}

function selectScenarios(names: readonly string[] | undefined): Set<string> {
  if (names === undefined || names.length === 0) return new Set(SCENARIO_NAMES);
  const unknown = names.filter((name) => !SCENARIO_NAMES.includes(name));
  if (unknown.length > 0) {
    throw new Error(
      `unknown scenario ${unknown.join(', ')}; the scenarios are: ${SCENARIO_NAMES.join(', ')}`,
    );
  }
  return new Set(names);
}

/** A declared-unsupported scenario that fails is skipped; one that passes is a stale declaration. */
function judged(
  name: string,
  outcome: { passed: boolean; why?: string },
  unsupported: string | undefined,
  durationMs: number,
): ScenarioResult {
  if (unsupported !== undefined) {
    return outcome.passed
      ? {
          name,
          status: 'failed',
          detail: `unexpected pass: declared unsupported (${unsupported})`,
          durationMs,
        }
      : { name, status: 'skipped', detail: unsupported, durationMs };
  }
  return outcome.passed
    ? { name, status: 'passed', durationMs }
    : { name, status: 'failed', detail: outcome.why ?? 'failed', durationMs };
}

export function formatResult(result: ScenarioResult): string {
  switch (result.status) {
    case 'passed':
      return `PASS ${result.name} (${result.durationMs} ms)`;
    case 'skipped':
      return `SKIP ${result.name} (${result.detail})`;
    case 'failed':
      return `FAIL ${result.name}: ${result.detail}`;
  }
}

async function closeQuietly(transport: Transport): Promise<void> {
  await transport.close({ drainTimeoutMs: 1_000 }).catch(() => {});
}
