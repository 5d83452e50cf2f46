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
 * several rounds by CPU time, after a warm-up. "validated" walks the payload (plain JSON values,
 * depth) on every dispatch; the event name is checked once per name either way. The "bare walk" row
 * puts a walk that visits every value and checks nothing before an unvalidated dispatch: no full check
 * of the payload can cost less.
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

/**
 * Visits every value of a payload and checks nothing: the least any check that sees the whole payload
 * must do. `publishSync` after it is the floor under the validated row.
 */
function bareWalk(value: object): void {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (typeof item === 'object' && item !== null) bareWalk(item);
    }
    return;
  }
  for (const key in value) {
    const item: unknown = (value as Record<string, unknown>)[key];
    if (typeof item === 'object' && item !== null) bareWalk(item);
  }
}

/**
 * Dispatches per second of CPU time (user + system, this process), best round. CPU time rather than
 * the wall clock: on a shared machine another job's time slices would otherwise count as ours.
 */
async function best(run: () => Promise<void> | void): Promise<number> {
  await run(); // warm-up
  let fastest = Number.POSITIVE_INFINITY;
  for (let round = 0; round < ROUNDS; round++) {
    const started = process.cpuUsage();
    await run();
    const used = process.cpuUsage(started);
    fastest = Math.min(fastest, (used.user + used.system) / 1e6);
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
  // Every case writes its own loop: one loop shared by all would see every dispatch function at one
  // call site, so only the first case measured would run with its dispatch inlined.
  const cases: [string, () => Promise<void> | void][] = [
    [
      'node:events',
      () => {
        for (let i = 0; i < DISPATCHES; i++) emitter.emit('order_created', payload);
      },
    ],
    [
      'eventemitter3',
      () => {
        for (let i = 0; i < DISPATCHES; i++) emitter3.emit('order_created', payload);
      },
    ],
    [
      'mitt',
      () => {
        for (let i = 0; i < DISPATCHES; i++) mittBus.emit('order_created', payload);
      },
    ],
    [
      'publishSync',
      () => {
        for (let i = 0; i < DISPATCHES; i++) plain.publishSync('order_created', payload);
      },
    ],
    [
      'publishSync validated',
      () => {
        for (let i = 0; i < DISPATCHES; i++) validated.publishSync('order_created', payload);
      },
    ],
    [
      'publishSync after a bare walk',
      () => {
        for (let i = 0; i < DISPATCHES; i++) {
          bareWalk(payload);
          plain.publishSync('order_created', payload);
        }
      },
    ],
    [
      'emittery',
      async () => {
        for (let i = 0; i < DISPATCHES; i++) await emittery.emit('order_created', payload);
      },
    ],
    [
      'publish',
      async () => {
        for (let i = 0; i < DISPATCHES; i++) await plainAsync.publish('order_created', payload);
      },
    ],
    [
      'publish validated',
      async () => {
        for (let i = 0; i < DISPATCHES; i++) await validatedAsync.publish('order_created', payload);
      },
    ],
    [
      'publish, sync listeners',
      async () => {
        for (let i = 0; i < DISPATCHES; i++) await plain.publish('order_created', payload);
      },
    ],
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
    workload: `${DISPATCHES.toLocaleString('en-US')} dispatches of one event (9 JSON values) to 3 listeners; best of ${ROUNDS} rounds by CPU time, twice, alternating`,
    comparisons: [
      row('publishSync, no validation', 'publishSync', 'node:events', 0.5),
      row('publishSync, validated', 'publishSync validated', 'node:events', 0.3),
      row(
        'publishSync after a bare walk of the payload (floor of any full check)',
        'publishSync after a bare walk',
        'node:events',
      ),
      row('publishSync, no validation', 'publishSync', 'eventemitter3'),
      row('publishSync, no validation', 'publishSync', 'mitt'),
      row('publish awaited, async listeners', 'publish', 'emittery', 1),
      row('publish awaited, async listeners, validated', 'publish validated', 'emittery'),
      row('publish awaited, sync listeners', 'publish, sync listeners', 'emittery'),
    ],
  };
}
