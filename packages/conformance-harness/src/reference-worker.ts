#!/usr/bin/env node
/**
 * The reference worker under test (protocol/conformance.md), on @thrun/core: what a runtime's worker
 * must do for the harness to pass it. `--mutant <name>` runs one of the deliberately broken variants
 * of `mutants.ts` instead.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { createThrun, type HandlerContext, permanent } from '@thrun/core';
import { isMutantName, MUTANTS, type Mutant } from './mutants.js';
import { createTransport } from './transports.js';
import { READY_LINE, readWorkerSettings } from './worker-env.js';

const mutant = chooseMutant(process.argv.slice(2));
const settings = mutant?.settings?.(readWorkerSettings(process.env)) ?? readWorkerSettings(process.env);
const baseTransport = createTransport(settings.transport, settings.url, {
  leaseMs: settings.leaseMs,
  drainTimeoutMs: settings.drainTimeoutMs,
});
const thrun = createThrun({
  transport: mutant?.transport?.(baseTransport) ?? baseTransport,
  source: 'conformance-reference',
  queue: settings.queue,
  group: settings.group,
  concurrency: settings.concurrency,
  retry: {
    maxAttempts: settings.maxAttempts,
    backoffMs: settings.backoffMs,
    maxBackoffMs: settings.maxBackoffMs,
  },
  limits: { maxPayloadBytes: settings.maxPayloadBytes },
  drainTimeoutMs: settings.drainTimeoutMs,
});

type Payload = { id?: unknown; failures?: unknown; ms?: unknown };

/** Dispatches a reply to the reply queue, with the members every reply carries. */
function reply(ctx: HandlerContext<Payload>, event: string, extra: Record<string, unknown> = {}) {
  const payload = { id: ctx.envelope.payload.id, worker: settings.workerId, attempt: ctx.attempt, ...extra };
  return ctx.event(event, payload as never, { queue: settings.replyQueue });
}

thrun.subscribe('conformance.echo', async (_payload: Payload, ctx: HandlerContext<Payload>) => {
  const { event, payload, meta } = ctx.envelope;
  await reply(ctx, 'conformance.echoed', {
    received: meta === undefined ? { event, payload } : { event, payload, meta },
  });
});

thrun.subscribe('conformance.fail', async (payload: Payload, ctx: HandlerContext<Payload>) => {
  const failures = typeof payload.failures === 'number' ? payload.failures : 0;
  const failing = ctx.attempt <= failures;
  await reply(ctx, 'conformance.attempted', { outcome: failing ? 'failed' : 'succeeded' });
  if (failing) throw new Error(`failing on purpose, attempt ${ctx.attempt} of ${failures} failures`);
});

thrun.subscribe('conformance.permanent', async (_payload: Payload, ctx: HandlerContext<Payload>) => {
  await reply(ctx, 'conformance.attempted', { outcome: 'permanent' });
  throw permanent('failing permanently on purpose');
});

thrun.subscribe('conformance.sleep', async (payload: Payload, ctx: HandlerContext<Payload>) => {
  await reply(ctx, 'conformance.started');
  // Not cut short by the stop signal: draining means letting this finish.
  await sleep(typeof payload.ms === 'number' ? payload.ms : 0);
  await reply(ctx, 'conformance.slept');
});

process.once('SIGTERM', () => {
  if (mutant?.exitOnSigterm) process.exit(0);
  thrun.close().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error('closing failed', error);
      process.exit(1);
    },
  );
});

await thrun.start();
process.stdout.write(`${READY_LINE}\n`);

function chooseMutant(args: string[]): Mutant | undefined {
  const index = args.indexOf('--mutant');
  if (index < 0) return undefined;
  const name = args[index + 1] ?? '';
  if (!isMutantName(name))
    throw new Error(`unknown mutant ${JSON.stringify(name)}; one of ${Object.keys(MUTANTS).join(', ')}`);
  return MUTANTS[name];
}
