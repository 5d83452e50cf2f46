import { ConfigurationError } from '@thrun/contract';
import { describe, expect, it } from 'vitest';
import type { HandlerContext } from './context.js';
import { ListenerRegistry, ThrunEventListener } from './listeners.js';
import { patternCovers, patternsOverlap, Router } from './routing.js';
import { received } from './test-fixtures/listeners/order-mailer.js';
import { createThrun } from './thrun.js';

// biome-ignore lint/complexity/noStaticOnlyClass: an event class is its contract name.
class OrderShipped {
  static readonly event = 'order.shipped';
}

const handled: string[] = [];

@ThrunEventListener('go_message')
@ThrunEventListener(OrderShipped)
class MultiListener {
  readonly instance = Math.random();
  handle(payload: { text?: string }, ctx: HandlerContext) {
    handled.push(`${ctx.name}:${payload.text ?? ''}:${this.instance}`);
  }
}

class Undecorated {
  handle() {}
}

describe('@ThrunEventListener and register', () => {
  it('registers every decorated event of a class with one instance, once even when registered twice', async () => {
    const thrun = createThrun();
    handled.length = 0;
    const subscriptions = thrun.register(MultiListener);
    thrun.register(MultiListener);
    expect(subscriptions.map((s) => s.pattern)).toEqual(['go_message', 'order.shipped']);
    await thrun.publish('go_message', { text: 'hello' });
    await thrun.publish(OrderShipped, {});
    expect(handled).toHaveLength(2);
    const [first, second] = handled.map((h) => h.split(':'));
    expect(first!.slice(0, 2)).toEqual(['go_message', 'hello']);
    expect(second![0]).toBe('order.shipped');
    expect(first![2]).toBe(second![2]); // the same instance
  });

  it('returns subscriptions that unsubscribe the class', async () => {
    const thrun = createThrun();
    handled.length = 0;
    for (const subscription of thrun.register(MultiListener)) subscription.unsubscribe();
    await thrun.publish('go_message', { text: 'gone' });
    expect(handled).toEqual([]);
  });

  it('refuses a class without the decorator', () => {
    const thrun = createThrun();
    let error: unknown;
    try {
      thrun.register(Undecorated);
    } catch (e) {
      error = e;
    }
    expect(ConfigurationError.isInstance(error)).toBe(true);
    expect(String(error)).toMatch(/Undecorated has no @ThrunEventListener/);
  });

  it('refuses an invalid pattern when decorating', () => {
    expect(() => ThrunEventListener('Not A Name')).toThrow(/invalid event pattern/);
  });
});

describe('discover', () => {
  it('imports the modules directly in the directory and registers decorated classes and defined listeners', async () => {
    const thrun = createThrun();
    const report = await thrun.discover(new URL('./test-fixtures/listeners/', import.meta.url));
    expect(report.modules).toEqual(['audit.ts', 'helpers.ts', 'order-mailer.ts']);
    expect(report.listeners).toEqual([
      { module: 'audit.ts', export: 'audit', name: 'auditOrders', pattern: 'order.*', kind: 'defined' },
      {
        module: 'order-mailer.ts',
        export: 'OrderMailer',
        name: 'OrderMailer',
        pattern: 'order_created',
        kind: 'decorated',
      },
    ]);
    received.length = 0;
    await thrun.publish('order_created', { order_id: 9 });
    await thrun.publish('order.paid', { order_id: 9 });
    expect(received).toEqual(['mailer:9', 'audit:order.paid:9']);
  });

  it('names the module that could not be imported', async () => {
    const thrun = createThrun();
    const error = await thrun
      .discover(new URL('./test-fixtures/broken/', import.meta.url))
      .catch((e: unknown) => e);
    expect(ConfigurationError.isInstance(error)).toBe(true);
    expect(String(error)).toMatch(/could not import throws\.ts/);
    expect((error as Error).cause).toBeInstanceOf(Error);
  });

  it('takes only file: URLs', async () => {
    const thrun = createThrun();
    await expect(thrun.discover('https://example.com/listeners/')).rejects.toThrow(/file: URL/);
  });
});

describe('routing', () => {
  const segments = (p: string) => p.split('.');

  it('decides which patterns overlap and which cover others', () => {
    expect(patternsOverlap(segments('billing.*'), segments('#'))).toBe(true);
    expect(patternsOverlap(segments('billing.*'), segments('order.*'))).toBe(false);
    expect(patternsOverlap(segments('billing.#'), segments('*.paid'))).toBe(true);
    expect(patternsOverlap(segments('a.*.c'), segments('a.b'))).toBe(false);
    expect(patternCovers(segments('billing.#'), segments('billing.*'))).toBe(true);
    expect(patternCovers(segments('billing.*'), segments('billing.#'))).toBe(false);
    expect(patternCovers(segments('#'), segments('a.#.b'))).toBe(true);
    expect(patternCovers(segments('*.paid'), segments('billing.paid'))).toBe(true);
    expect(
      patternsOverlap(
        segments('#.#.#.#.#.#.#.#.#.#.#.#.#.#.#.#.x'),
        segments('#.#.#.#.#.#.#.#.#.#.#.#.#.#.y'),
      ),
    ).toBe(false);
  });

  it('finds every queue a listener pattern can receive from', () => {
    const router = new Router('events', { 'billing.*': 'billing', 'audit.#': 'audit' });
    expect(router.queueFor('billing.paid')).toBe('billing');
    expect(router.queueFor('billing.paid.late')).toBe('events');
    expect(router.queuesFor('billing.paid')).toEqual(['billing']);
    expect(router.queuesFor('billing.*')).toEqual(['billing']);
    expect(router.queuesFor('#')).toEqual(['billing', 'audit', 'events']);
    expect(router.queuesFor('*.paid')).toEqual(['billing', 'audit', 'events']);
    expect(router.queuesFor('order.*')).toEqual(['events']);
  });
});

describe('ListenerRegistry.resolve', () => {
  it('sees every subscribe and unsubscribe after a name was resolved, wildcards included', () => {
    const registry = new ListenerRegistry();
    const names = (eventName: string) => registry.resolve(eventName).map((l) => l.name);
    function exact() {}
    function anyOrder() {}
    expect(names('order.created')).toEqual([]);
    const first = registry.add('order.created', exact);
    expect(names('order.created')).toEqual(['exact']);
    const wildcard = registry.add('order.*', anyOrder);
    expect(names('order.created')).toEqual(['exact', 'anyOrder']);
    expect(names('order.paid')).toEqual(['anyOrder']);
    expect(names('order.created')).toEqual(['exact', 'anyOrder']);
    registry.remove(first);
    expect(names('order.created')).toEqual(['anyOrder']);
    registry.remove(wildcard);
    expect(names('order.created')).toEqual([]);
    expect(names('order.paid')).toEqual([]);
  });

  it('keeps a resolved snapshot unchanged when listeners change later', () => {
    const registry = new ListenerRegistry();
    registry.add('order.created', () => {});
    const snapshot = registry.resolve('order.created');
    registry.add('order.created', () => {});
    expect(snapshot).toHaveLength(1);
    expect(registry.resolve('order.created')).toHaveLength(2);
  });
});
