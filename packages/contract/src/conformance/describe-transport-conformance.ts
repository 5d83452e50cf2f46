import { afterAll, afterEach, beforeAll, beforeEach, describe, it } from 'vitest';
import type { Transport, TransportCapabilities } from '../transport.js';
import { type ConformanceCase, conformanceCases, optionalMethodSkipReason } from './cases.js';
import {
  type ConformanceCaseId,
  type ConformanceContext,
  createContext,
  type ResolvedFeatures,
  resolveFeatures,
  type TransportConformanceFeatures,
} from './context.js';

export interface TransportConformanceHooks {
  beforeAll?: () => unknown | Promise<unknown>;
  afterAll?: () => unknown | Promise<unknown>;
  beforeEach?: () => unknown | Promise<unknown>;
  /** Runs after the kit closed the test's transports. */
  afterEach?: () => unknown | Promise<unknown>;
}

export interface TransportConformanceOptions {
  /** Shown in the suite title and the summary, e.g. `redis (streams)`. */
  name: string;
  /**
   * Returns a new transport connected to the same broker every time: the kit calls it several times
   * per test to model several processes, and closes every transport it created after each test.
   * It is also called once while the suite is collected, to read `capabilities` (and whether
   * `peek`/`purge` exist); that transport is closed at once.
   */
  factory: () => Transport | Promise<Transport>;
  /** Test-only facts about the transport: lease length, quiet period, cases it cannot run. */
  features?: TransportConformanceFeatures;
  hooks?: TransportConformanceHooks;
  /** Registers transport-specific tests inside the same suite, with the same context helpers. */
  additionalTests?: (suite: {
    capabilities: TransportCapabilities;
    context: () => ConformanceContext;
  }) => void;
  /** Receives the summary once the suite finished (it is also printed). */
  onReport?: (report: ConformanceReport) => void;
}

export type ConformanceOutcome = 'passed' | 'failed' | 'skipped';

export interface ConformanceReport {
  name: string;
  capabilities: TransportCapabilities;
  cases: { id: ConformanceCaseId; title: string; outcome: ConformanceOutcome; skipReason?: string }[];
}

/** A planned case: what will run and what will be skipped, and why. */
export interface PlannedConformanceCase {
  id: ConformanceCaseId;
  title: string;
  skipReason: string | undefined;
}

/**
 * The plan for a transport's capabilities: every case with its title and, when skipped, the reason.
 * `transport` tells whether the optional `peek`/`purge`/`inspect` exist; without it, their cases are skipped.
 */
export function planConformanceCases(
  capabilities: TransportCapabilities,
  features: TransportConformanceFeatures = {},
  transport?: Pick<Transport, 'peek' | 'purge' | 'inspect' | 'removeGroup'>,
): PlannedConformanceCase[] {
  const resolved = resolveFeatures(features);
  return conformanceCases.map((entry) => ({
    id: entry.id,
    title: typeof entry.title === 'function' ? entry.title(capabilities) : entry.title,
    skipReason:
      resolved.skip[entry.id] ??
      entry.skipReason?.(capabilities, resolved) ??
      optionalMethodSkipReason(entry.id, transport),
  }));
}

/** The default per-test timeout: every wait a case makes, with room to spare. */
function caseTimeoutMs(entry: ConformanceCase, features: ResolvedFeatures): number {
  return (
    4 * features.deliveryTimeoutMs +
    6 * features.quietPeriodMs +
    10_000 +
    (entry.extraTimeoutMs?.(features) ?? 0)
  );
}

/** Closes every transport a test opened; a short drain, since some cases leave handlers stuck on purpose. */
async function closeAll(opened: Transport[]): Promise<void> {
  const transports = opened.splice(0);
  const results = await Promise.allSettled(
    transports.map((transport) => transport.close({ drainTimeoutMs: 100 })),
  );
  const failure = results.find((result) => result.status === 'rejected');
  if (failure) throw (failure as PromiseRejectedResult).reason;
}

/**
 * Registers the transport conformance suite in vitest: one test per case of the contract in
 * `transport.ts`. Cases the transport's capabilities exclude are registered with `it.skip` and a
 * title that says why; the rest must pass. A summary of what ran and what was skipped is printed at
 * the end and handed to `onReport`.
 *
 * ```ts
 * describeTransportConformance({
 *   name: 'redis',
 *   factory: () => redisTransport({ url: process.env.THRUN_REDIS_URL }),
 *   features: { redeliveryAfterMs: 2_000 },
 * });
 * ```
 */
export function describeTransportConformance(options: TransportConformanceOptions): void {
  const features = resolveFeatures(options.features);

  // Sequential even under `sequence.concurrent`: the cases share the list of transports to close.
  describe.sequential(`transport conformance: ${options.name}`, async () => {
    // Reading capabilities needs a transport; collection is the only moment skips can be decided.
    const probe = await options.factory();
    const capabilities = probe.capabilities;
    const plan = planConformanceCases(capabilities, options.features, probe);
    await probe.close({ drainTimeoutMs: 0 });

    const opened: Transport[] = [];
    const report: ConformanceReport = { name: options.name, capabilities, cases: [] };
    let current: ConformanceContext | undefined;

    const hooks = options.hooks ?? {};
    if (hooks.beforeAll) beforeAll(hooks.beforeAll);
    if (hooks.beforeEach) beforeEach(hooks.beforeEach);
    afterEach(async () => {
      current = undefined;
      try {
        await closeAll(opened);
      } finally {
        await hooks.afterEach?.();
      }
    });
    afterAll(async () => {
      printReport(report);
      options.onReport?.(report);
      await hooks.afterAll?.();
    });

    for (const [index, entry] of conformanceCases.entries()) {
      const planned = plan[index]!;
      if (planned.skipReason !== undefined) {
        report.cases.push({
          id: entry.id,
          title: planned.title,
          outcome: 'skipped',
          skipReason: planned.skipReason,
        });
        it.skip(`${entry.id}: skipped — ${planned.skipReason}`, () => {});
        continue;
      }
      const result: ConformanceReport['cases'][number] = {
        id: entry.id,
        title: planned.title,
        outcome: 'failed',
      };
      report.cases.push(result);
      it(
        `${entry.id}: ${planned.title}`,
        async () => {
          current = createContext(capabilities, features, options.factory, opened, entry.id);
          await entry.run(current);
          result.outcome = 'passed';
        },
        caseTimeoutMs(entry, features),
      );
    }

    options.additionalTests?.({
      capabilities,
      context: () => {
        current ??= createContext(capabilities, features, options.factory, opened, 'additional');
        return current;
      },
    });
  });
}

function printReport(report: ConformanceReport): void {
  const ran = report.cases.filter((entry) => entry.outcome !== 'skipped');
  const passed = ran.filter((entry) => entry.outcome === 'passed').length;
  const skipped = report.cases.filter((entry) => entry.outcome === 'skipped');
  const lines = [
    `[thrun:conformance] ${report.name}: ${ran.length} ran (${passed} passed, ${ran.length - passed} failed), ${skipped.length} skipped`,
    ...report.cases.map((entry) =>
      entry.outcome === 'skipped'
        ? `  - ${entry.id}: skipped — ${entry.skipReason}`
        : `  ${entry.outcome === 'passed' ? '✓' : '✗'} ${entry.id}: ${entry.title}`,
    ),
  ];
  console.info(lines.join('\n'));
}
