import { EventEmitter } from 'node:events';
import { createThrun } from '@thrun/core';
import Emittery from 'emittery';
import { EventEmitter as EventEmitter3 } from 'eventemitter3';
import mittModule from 'mitt';

// mitt's types describe its CommonJS build; the ES module this imports exports the function itself.
const mitt = mittModule as unknown as typeof mittModule.default;

import type { SuiteResult } from '../report.js';

/**
 * In-process dispatch against the emitters a TypeScript user would pick for the same job, in the same
 * run: `publishSync` (no promise, listeners on the caller's stack) against `node:events`,
 * `eventemitter3` and `mitt`, and awaited `publish` against `emittery`, which awaits its listeners as
 * `publish` does.
 *
 * Workload: one event name with three listeners, each adding the payload's `order_id` to a counter
 * (so the work cannot be optimized away); the payload is a small order (9 JSON values). Best of
 * several rounds, after a warm-up. "validated" walks the payload (plain JSON values, depth) on every
 * dispatch; the event name is checked once per name either way.
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
  const asyncListener = async (p: OrderCreated) => {
    sum += p.order_id;
  };
  const threeTimes = (add: () => void) => {
    for (let i = 0; i < 3; i++) add();
  };
  const bus = (validateInProcess: boolean, handler: (p: OrderCreated) => unknown) => {
    const thrun = createThrun({ validateInProcess });
    threeTimes(() => thrun.subscribe<OrderCreated>('order_created', handler));
    return thrun;
  };

  const emitter = new EventEmitter();
  threeTimes(() => emitter.on('order_created', listener));
  const emitter3 = new EventEmitter3();
  threeTimes(() => emitter3.on('order_created', listener));
  const mittBus = mitt<{ order_created: OrderCreated }>();
  threeTimes(() => mittBus.on('order_created', listener));
  const emittery = new Emittery<{ order_created: OrderCreated }>();
  threeTimes(() => emittery.on('order_created', asyncListener));
  const plain = bus(false, listener);
  const validated = bus(true, listener);
  const plainAsync = bus(false, asyncListener);
  const validatedAsync = bus(true, asyncListener);

  // Alternating, so that load from other processes falls on every side alike.
  const rate: Record<string, number> = {};
  const cases: [string, () => Promise<void> | void][] = [
    ['node:events', () => loop(() => emitter.emit('order_created', payload))],
    ['eventemitter3', () => loop(() => emitter3.emit('order_created', payload))],
    ['mitt', () => loop(() => mittBus.emit('order_created', payload))],
    ['publishSync', () => loop(() => plain.publishSync('order_created', payload))],
    ['publishSync validated', () => loop(() => validated.publishSync('order_created', payload))],
    ['emittery', () => loopAwaited(() => emittery.emit('order_created', payload))],
    ['publish', () => loopAwaited(() => plainAsync.publish('order_created', payload))],
    ['publish validated', () => loopAwaited(() => validatedAsync.publish('order_created', payload))],
    ['publish, sync listeners', () => loopAwaited(() => plain.publish('order_created', payload))],
  ];
  for (let round = 0; round < 2; round++) {
    for (const [name, run] of cases) rate[name] = Math.max(rate[name] ?? 0, await best(run));
  }
  if (sum === 0) throw new Error('listeners never ran');
  const at = (name: string) => rate[name] as number;

  const row = (label: string, thrun: string, peerName: string, target?: number) => ({
    case: label,
    unit: 'dispatch/s',
    thrun: at(thrun),
    peer: at(peerName),
    peerName,
    better: 'higher' as const,
    ...(target === undefined ? {} : { target }),
  });
  return {
    suite: 'in-process',
    workload: `${DISPATCHES.toLocaleString('en-US')} dispatches of one event (9 JSON values) to 3 listeners; best of ${ROUNDS} rounds, twice, alternating`,
    comparisons: [
      row('publishSync, no validation', 'publishSync', 'node:events', 0.5),
      row('publishSync, validated', 'publishSync validated', 'node:events', 0.3),
      row('publishSync, no validation', 'publishSync', 'eventemitter3'),
      row('publishSync, no validation', 'publishSync', 'mitt'),
      row('publish awaited, async listeners', 'publish', 'emittery', 1),
      row('publish awaited, async listeners, validated', 'publish validated', 'emittery'),
      row('publish awaited, sync listeners', 'publish, sync listeners', 'emittery'),
    ],
  };
}

function loop(dispatch: () => unknown): void {
  for (let i = 0; i < DISPATCHES; i++) dispatch();
}

async function loopAwaited(dispatch: () => Promise<unknown>): Promise<void> {
  for (let i = 0; i < DISPATCHES; i++) await dispatch();
}
