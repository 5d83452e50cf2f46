import { ConfigurationError, ValidationError } from '@thrun/contract';
import { describe, expect, it } from 'vitest';
import type { HandlerContext } from './context.js';
import { createThrun } from './thrun.js';

describe('publish and call (in-process)', () => {
  it('publish runs every listener, even after failures, and rejects with an AggregateError of all of them', async () => {
    const thrun = createThrun();
    const ran: string[] = [];
    thrun.subscribe('order_created', () => {
      ran.push('a');
      throw new Error('a failed');
    });
    thrun.subscribe('order_created', async () => {
      ran.push('b');
    });
    thrun.subscribe('order_created', async () => {
      ran.push('c');
      throw new Error('c failed');
    });
    const error = await thrun.publish('order_created', { order_id: 1 }).catch((e: unknown) => e);
    expect(ran).toEqual(['a', 'b', 'c']);
    expect(error).toBeInstanceOf(AggregateError);
    expect((error as AggregateError).errors.map((e: Error) => e.message)).toEqual(['a failed', 'c failed']);
  });

  it('publish resolves when every listener succeeded, awaiting async ones', async () => {
    const thrun = createThrun();
    let done = false;
    thrun.subscribe('order_created', async () => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      done = true;
    });
    await thrun.publish('order_created', {});
    expect(done).toBe(true);
    await expect(thrun.publish('nobody_listens', {})).resolves.toBeUndefined();
  });

  it('call runs listeners in order and stops at the first error, which it rethrows as is', async () => {
    const thrun = createThrun();
    const ran: string[] = [];
    const boom = new Error('second failed');
    thrun.subscribe('order_created', async () => void ran.push('first'));
    thrun.subscribe('order_created', async () => {
      ran.push('second');
      throw boom;
    });
    thrun.subscribe('order_created', () => void ran.push('third'));
    await expect(thrun.call('order_created', {})).rejects.toBe(boom);
    expect(ran).toEqual(['first', 'second']);
  });

  it('snapshots the listeners per dispatch: one added or removed during a dispatch changes only later ones', async () => {
    const thrun = createThrun();
    const ran: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const late = thrun.subscribe('tick', () => void ran.push('late'));
    late.unsubscribe();
    const removable = thrun.subscribe('tick', () => void ran.push('removable'));
    thrun.subscribe('tick', async () => {
      ran.push('slow');
      await gate;
    });
    const first = thrun.call('tick', {}); // sequential: 'removable' ran, 'slow' is waiting
    removable.unsubscribe();
    thrun.subscribe('tick', () => void ran.push('added'));
    release();
    await first;
    expect(ran).toEqual(['removable', 'slow']);
    ran.length = 0;
    await thrun.publish('tick', {});
    expect(ran).toEqual(['slow', 'added']);
  });

  it('stays consistent under concurrent dispatches and subscriptions', async () => {
    const thrun = createThrun();
    let count = 0;
    const subs = Array.from({ length: 20 }, () => thrun.subscribe('load.test', async () => void count++));
    const runs = Array.from({ length: 200 }, async (_, i) => {
      if (i === 100) for (const sub of subs.slice(10)) sub.unsubscribe();
      await thrun.publish('load.test', { i });
    });
    await Promise.all(runs);
    // Dispatches 0..99 saw 20 listeners, 100..199 saw 10 (publish snapshots synchronously).
    expect(count).toBe(100 * 20 + 100 * 10);
  });

  it('delivers once to each matching listener: exact, `*` and `#`, in registration order', async () => {
    const thrun = createThrun();
    const ran: string[] = [];
    thrun.subscribe('order.#', (_p, ctx) => void ran.push(`hash:${ctx.name}`));
    thrun.subscribe('order.paid', () => void ran.push('exact'));
    thrun.subscribe('order.*', () => void ran.push('star'));
    thrun.subscribe('invoice.*', () => void ran.push('never'));
    await thrun.publish('order.paid', {});
    expect(ran).toEqual(['hash:order.paid', 'exact', 'star']);
    ran.length = 0;
    await thrun.publish('order', {});
    expect(ran).toEqual(['hash:order']);
  });

  it('accepts functions, handler objects and handler classes; ctx has a lazily built envelope', async () => {
    const thrun = createThrun({ source: 'shop' });
    const seen: string[] = [];
    class ClassHandler {
      handle(payload: { n: number }, ctx: HandlerContext) {
        seen.push(`class:${payload.n}:${ctx.envelope.meta?.source}:${ctx.attempt}:${ctx.queue}`);
      }
    }
    thrun.subscribe('e', ClassHandler);
    thrun.subscribe('e', { handle: (payload: { n: number }) => void seen.push(`object:${payload.n}`) });
    thrun.subscribe(
      'e',
      (payload: { n: number }, ctx) => void seen.push(`fn:${payload.n}:${ctx.envelope.event}`),
    );
    await thrun.publish('e', { n: 1 });
    expect(seen).toEqual(['class:1:shop:1:undefined', 'object:1', 'fn:1:e']);
    expect(() => thrun.subscribe('e', 42 as never)).toThrow(/handler is a function/);
    expect(() => thrun.subscribe('Bad Pattern', () => {})).toThrow(/invalid event pattern/);
  });

  it('validates name and payload, and can skip the payload walk', async () => {
    const thrun = createThrun();
    thrun.subscribe('e', () => {});
    await expect(thrun.publish('Not Valid', {})).rejects.toSatisfy(ValidationError.isInstance);
    await expect(thrun.publish('e', { f: () => 1 })).rejects.toMatchObject({ code: 'invalid_payload' });
    await expect(thrun.call('e', [] as never)).rejects.toMatchObject({ code: 'invalid_payload' });
    const loose = createThrun({ validateInProcess: false });
    let got: unknown;
    loose.subscribe('e', (payload) => {
      got = payload;
    });
    const payload = { when: new Date(0) };
    await loose.publish('e', payload);
    expect(got).toBe(payload);
    await expect(loose.publish('e', 'text' as never)).rejects.toMatchObject({ code: 'invalid_payload' });
  });
});

describe('in-process payload validation', () => {
  it('rejects what the wire cannot carry, naming the place', async () => {
    const thrun = createThrun({ limits: { maxDepth: 8 } });
    thrun.subscribe('e', () => {});
    const withProto = JSON.parse('{"a":{"__proto__":{"x":1}}}');
    const cases: [unknown, RegExp][] = [
      [{ a: [1, { b: Number.POSITIVE_INFINITY }] }, /\/a\/1\/b/],
      [{ big: 2 ** 60 }, /\/big.*safe integer/],
      [{ s: Symbol('x') }, /\/s: symbol/],
      [{ list: [1, undefined] }, /\/list\/1: undefined/],
      [{ m: new Map() }, /\/m: an instance of Map/],
      [withProto, /__proto__/],
      [{ a: { b: { c: { d: { e: { f: { g: { h: {} } } } } } } } }, /deeper than 8/],
    ];
    for (const [payload, message] of cases) {
      await expect(thrun.publish('e', payload as object), String(message)).rejects.toThrow(message);
    }
    await expect(
      thrun.publish('e', { n: 1.5, big: 2 ** 53 - 1, nested: [[{}]], nil: null, optional: undefined }),
    ).resolves.toBeUndefined();
  });

  it('applies every rule inside arrays as inside objects, and at both ends of the number range', async () => {
    const thrun = createThrun({ limits: { maxDepth: 8 } });
    thrun.subscribe('e', () => {});
    const cyclic: Record<string, unknown[]> = { list: [] };
    cyclic.list!.push(cyclic);
    const cases: [unknown, RegExp][] = [
      [{ list: [{ at: new Date(0) }] }, /\/list\/0\/at: an instance of Date/],
      [{ list: [new Date(0)] }, /\/list\/0: an instance of Date/],
      [{ list: [JSON.parse('{"__proto__":1}')] }, /\/list\/0\/__proto__/],
      [{ list: [true, () => 1] }, /\/list\/1: function/],
      [{ list: [1, -(2 ** 53)] }, /\/list\/1.*safe integer/],
      [{ n: -(2 ** 53) }, /\/n.*safe integer/],
      [{ n: Number.NEGATIVE_INFINITY }, /\/n.*not finite/],
      [{ list: [Number.NaN] }, /\/list\/0.*not finite/],
      [{ a: [[[[[[[[1]]]]]]]] }, /deeper than 8/],
      [cyclic, /deeper than 8/],
    ];
    for (const [payload, message] of cases) {
      expect(() => thrun.publishSync('e', payload as object), String(message)).toThrow(message);
    }
    const bare = Object.assign(Object.create(null) as object, { n: -(2 ** 53 - 1), f: -0.5 });
    expect(() =>
      thrun.publishSync('e', { bare, list: [null, false, 'x', -0, bare, [Object.create(null)]] }),
    ).not.toThrow();
  });
});

describe("publishSync and callSync (in-process, on the caller's stack)", () => {
  it('publishSync runs every listener before returning, and throws an AggregateError of all failures', () => {
    const thrun = createThrun();
    const ran: string[] = [];
    thrun.subscribe('order_created', (payload: { order_id: number }) => {
      ran.push(`a${payload.order_id}`);
      throw new Error('a failed');
    });
    thrun.subscribe('#', () => {
      ran.push('b');
    });
    let thrown: unknown;
    try {
      thrun.publishSync('order_created', { order_id: 1 });
    } catch (error) {
      thrown = error;
    }
    expect(ran).toEqual(['a1', 'b']);
    expect(thrown).toBeInstanceOf(AggregateError);
    expect((thrown as AggregateError).errors.map((e: Error) => e.message)).toEqual(['a failed']);
    expect(() => thrun.publishSync('nobody_listens')).not.toThrow();
    expect(() => thrun.publishSync('Not A Name', {})).toThrow(ValidationError);
  });

  it('publishSync and callSync count a listener that returns a promise as a failure, and log its rejection', async () => {
    const logged: string[] = [];
    const logger = { debug() {}, info() {}, warn() {}, error: (message: string) => logged.push(message) };
    const thrun = createThrun({ logger });
    const ran: string[] = [];
    thrun.subscribe('order_created', async () => {
      ran.push('async');
      throw new Error('later');
    });
    thrun.subscribe('order_created', () => {
      ran.push('sync');
    });
    let thrown: unknown;
    try {
      thrun.publishSync('order_created', {});
    } catch (error) {
      thrown = error;
    }
    expect(ran).toEqual(['async', 'sync']);
    const [first] = (thrown as AggregateError).errors as ConfigurationError[];
    expect(ConfigurationError.isInstance(first) && first.code).toBe('async_listener');
    expect(() => thrun.callSync('order_created', {})).toThrow(/returned a promise/);
    expect(ran).toEqual(['async', 'sync', 'async']);
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(logged).toEqual([
      'an async listener failed after a synchronous dispatch',
      'an async listener failed after a synchronous dispatch',
    ]);
  });

  it("callSync runs listeners in order on the caller's stack and rethrows the first failure as is", () => {
    const thrun = createThrun();
    const ran: string[] = [];
    const failure = new Error('second failed');
    thrun.subscribe('order_created', () => {
      ran.push('first');
    });
    thrun.subscribe('order_created', () => {
      ran.push('second');
      throw failure;
    });
    thrun.subscribe('order_created', () => {
      ran.push('third');
    });
    expect(() => thrun.callSync('order_created', { order_id: 1 })).toThrow(failure);
    expect(ran).toEqual(['first', 'second']);
  });
});
