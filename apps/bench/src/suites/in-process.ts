import { EventEmitter } from 'node:events';
import { createThrun } from '@thrun/core';
import type { SuiteResult } from '../report.js';

/**
 * In-process dispatch: Thrun's `publish` against `node:events`' `emit`, in the same run.
 *
 * Workload: one event name with three listeners, each adding the payload's `order_id` to a counter
 * (so the work cannot be optimized away); the payload is a small order (9 JSON values). Best of
 * several rounds, after a warm-up.
 *
 * `emit` is synchronous. `publish` returns a promise (it awaits async listeners and joins their
 * errors), so a caller that awaits every dispatch pays one microtask per dispatch; the third row
 * compares against `emit` followed by the same bare `await`, which isolates what Thrun adds beyond
 * being a promise API. "validated" walks the payload (plain JSON values, depth) on every dispatch; the event name is
 * checked once per name either way.
 */
const DISPATCHES = 500_000;
const ROUNDS = 5;

interface OrderCreated {
  order_id: number;
  customer: { id: number; email: string };
  lines: { sku: string; quantity: number; price_cents: number }[];
}

const payload: OrderCreated = {
  order_id: 1,
  customer: { id: 7, email: 'ada@example.com' },
  lines: [
    { sku: 'book-1', quantity: 1, price_cents: 1_999 },
    { sku: 'pen-2', quantity: 3, price_cents: 250 },
  ],
};

async function best(run: () => Promise<void> | void): Promise<number> {
  await run(); // warm-up
  let fastest = Number.POSITIVE_INFINITY;
  for (let round = 0; round < ROUNDS; round++) {
    const started = process.hrtime.bigint();
    await run();
    fastest = Math.min(fastest, Number(process.hrtime.bigint() - started) / 1e9);
  }
  return DISPATCHES / fastest;
}

export async function inProcess(): Promise<SuiteResult> {
  let sum = 0;
  const listener = (p: OrderCreated) => {
    sum += p.order_id;
  };

  const emitter = new EventEmitter();
  for (let i = 0; i < 3; i++) emitter.on('order_created', listener);
  const nodeEvents = await best(() => {
    for (let i = 0; i < DISPATCHES; i++) emitter.emit('order_created', payload);
  });
  const nodeEventsAwaited = await best(async () => {
    for (let i = 0; i < DISPATCHES; i++) {
      emitter.emit('order_created', payload);
      await undefined;
    }
  });

  const bus = (validateInProcess: boolean) => {
    const thrun = createThrun({ validateInProcess });
    for (let i = 0; i < 3; i++) thrun.subscribe<OrderCreated>('order_created', listener);
    return thrun;
  };
  const awaited = (validateInProcess: boolean) => {
    const thrun = bus(validateInProcess);
    return best(async () => {
      for (let i = 0; i < DISPATCHES; i++) await thrun.publish('order_created', payload);
    });
  };
  const awaitedPlain = await awaited(false);
  const awaitedValidated = await awaited(true);
  if (sum === 0) throw new Error('listeners never ran');

  const row = (label: string, thrun: number, peer: number, peerName: string, target?: number) => ({
    case: label,
    unit: 'dispatch/s',
    thrun,
    peer,
    peerName,
    better: 'higher' as const,
    ...(target === undefined ? {} : { target }),
  });
  return {
    suite: 'in-process',
    workload: `${DISPATCHES.toLocaleString('en-US')} dispatches of one event (9 JSON values) to 3 listeners; best of ${ROUNDS}`,
    comparisons: [
      row('publish awaited, no validation', awaitedPlain, nodeEvents, 'node:events emit', 0.5),
      row('publish awaited, validated', awaitedValidated, nodeEvents, 'node:events emit', 0.3),
      row('publish awaited, no validation', awaitedPlain, nodeEventsAwaited, 'emit + await'),
      row('publish awaited, validated', awaitedValidated, nodeEventsAwaited, 'emit + await'),
    ],
  };
}
