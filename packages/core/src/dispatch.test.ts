import {
  ConfigurationError,
  decodeEnvelope,
  PayloadTooLargeError,
  SPEC_VERSION,
  type Transport,
  ValidationError,
} from '@thrun/contract';
import { createMemoryBroker, memoryTransport } from '@thrun/transport-memory';
import { describe, expect, it } from 'vitest';
import { ThrunJob } from './event-class.js';
import { silentLogger } from './logger.js';
import { recordingPublishes, waitFor } from './test-fixtures/helpers.js';
import { createThrun } from './thrun.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

// biome-ignore lint/complexity/noStaticOnlyClass: an event class is its contract name.
class UserCreated {
  static readonly event = 'user_created';
}

class CreatePayment extends ThrunJob<{ order_id: number }> {
  static readonly event = 'create_payment';
}

async function queued(transport: Transport, queue: string) {
  const messages = await transport.peek!(queue, 100);
  return messages.map((m) => decodeEnvelope(m.body));
}

describe('thrun.event', () => {
  it('fills meta and resolves with the event id once the transport accepted it', async () => {
    const transport = memoryTransport();
    const thrun = createThrun({ transport, source: 'billing' });
    const before = Date.now();
    const id = await thrun.event('order_created', { order_id: 123 });
    const [envelope] = await queued(transport, 'events');
    expect(id).toMatch(UUID);
    expect(envelope).toMatchObject({ event: 'order_created', payload: { order_id: 123 } });
    expect(envelope!.meta).toMatchObject({ event_id: id, source: 'billing' });
    expect(envelope!.meta!.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    expect(Date.parse(envelope!.meta!.timestamp)).toBeGreaterThanOrEqual(before - 1);
  });

  it('carries correlation, causation, traceparent and extra meta such as batch, untouched', async () => {
    const transport = memoryTransport();
    const thrun = createThrun({ transport });
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    await thrun.event(
      'step_one',
      { n: 1 },
      {
        correlationId: 'flow-1',
        causationId: 'cause-1',
        traceparent,
        meta: {
          batch: {
            id: '6f1c1f4e-0d7b-4e55-9a34-2b0c9f1d7c11',
            index: 0,
            total: 3,
            on_success: 'order.success',
          },
          event_id: 'not-mine',
        },
      },
    );
    const [envelope] = await queued(transport, 'events');
    expect(envelope!.meta).toMatchObject({
      correlation_id: 'flow-1',
      causation_id: 'cause-1',
      traceparent,
      batch: { id: '6f1c1f4e-0d7b-4e55-9a34-2b0c9f1d7c11', index: 0, total: 3, on_success: 'order.success' },
    });
    expect(envelope!.meta!.event_id).toMatch(UUID); // Thrun's own fields cannot be overridden
  });

  it('takes a caller-chosen event id, and refuses one that is not a UUID', async () => {
    const transport = memoryTransport();
    const thrun = createThrun({ transport });
    const eventId = '0b7c6f1e-8a2d-4c3b-9f5e-1d2c3b4a5f6e';
    expect(await thrun.event('step', {}, { eventId })).toBe(eventId);
    const [envelope] = await queued(transport, 'events');
    expect(envelope!.meta!.event_id).toBe(eventId);
    await expect(thrun.event('step', {}, { eventId: 'step-1' })).rejects.toMatchObject({
      code: 'schema_violation',
    });
  });

  it('resolves a class to its static contract name, and a job instance to name and payload', async () => {
    const transport = memoryTransport();
    const thrun = createThrun({ transport });
    await thrun.event(UserCreated, { user_id: 1 });
    await thrun.event(new CreatePayment({ order_id: 7 }));
    await thrun.event({ event: 'plain_job', payload: { a: 1 } });
    const envelopes = await queued(transport, 'events');
    expect(envelopes.map((e) => [e.event, e.payload])).toEqual([
      ['user_created', { user_id: 1 }],
      ['create_payment', { order_id: 7 }],
      ['plain_job', { a: 1 }],
    ]);
  });

  it('routes by pattern, first match wins, and honours an explicit queue', async () => {
    const transport = memoryTransport();
    const thrun = createThrun({ transport, routes: { 'billing.*': 'billing', 'billing.#': 'other' } });
    await thrun.event('billing.paid', {});
    await thrun.event('order_created', {});
    await thrun.event('order_created', {}, { queue: 'special' });
    expect((await queued(transport, 'billing')).map((e) => e.event)).toEqual(['billing.paid']);
    expect((await queued(transport, 'events')).map((e) => e.event)).toEqual(['order_created']);
    expect(await queued(transport, 'special')).toHaveLength(1);
    expect(await queued(transport, 'other')).toHaveLength(0);
  });

  it('rejects a BigInt or a cycle with the codec ValidationError naming where, on every dispatch path', async () => {
    const transport = memoryTransport();
    const thrun = createThrun({ transport });
    const cycle: Record<string, unknown> = { id: 1 };
    cycle.self = cycle;
    thrun.subscribe('parent', (_payload, ctx) => ctx.event('child', cycle));
    const cases: [string, string, () => Promise<unknown>][] = [
      ['event(): BigInt', '/payload/n', () => thrun.event('a', { n: 10n })],
      ['event(): cycle', '/payload/self', () => thrun.event('a', cycle)],
      [
        'events(): BigInt',
        '/payload/list/1',
        () => thrun.events([{ event: 'a', payload: { list: [1, 2n] } }]),
      ],
      ['ctx.event(): cycle', '/payload/self', () => thrun.call('parent')],
    ];
    for (const [label, path, run] of cases) {
      const error = await run().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(ValidationError.isInstance(error), `${label}: ${String(error)}`).toBe(true);
      expect(error, label).toMatchObject({ code: 'invalid_payload', isRetryable: false });
      expect(
        (error as ValidationError).issues.map((issue) => issue.path),
        label,
      ).toEqual([path]);
    }
    expect(await transport.peek!('events', 100)).toHaveLength(0);
  });

  it('rejects bad input with a typed error before anything is sent', async () => {
    const transport = memoryTransport();
    const thrun = createThrun({ transport, limits: { maxPayloadBytes: 1024 } });
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    const cases: [string, () => Promise<unknown>, string][] = [
      ['invalid name', () => thrun.event('Order Created', {}), 'invalid_event_name'],
      ['empty name', () => thrun.event('', {}), 'invalid_event_name'],
      ['array payload', () => thrun.event('a', [1] as never), 'invalid_payload'],
      ['string payload', () => thrun.event('a', 'x' as never), 'invalid_payload'],
      ['null payload', () => thrun.event('a', null as never), 'invalid_payload'],
      ['function value', () => thrun.event('a', { f: () => 1 }), 'invalid_payload'],
      ['BigInt value', () => thrun.event('a', { n: 10n }), 'invalid_payload'],
      ['cycle', () => thrun.event('a', cycle), 'invalid_payload'],
      ['NaN', () => thrun.event('a', { n: Number.NaN }), 'invalid_payload'],
      ['class instance', () => thrun.event('a', { at: new Date() }), 'invalid_payload'],
      ['too deep', () => thrun.event('a', deep(100)), 'invalid_payload'],
      ['oversized', () => thrun.event('a', { s: 'x'.repeat(2000) }), 'payload_too_large'],
      ['bad queue', () => thrun.event('a', {}, { queue: 'No Queue' }), 'invalid_queue_name'],
    ];
    for (const [label, run, code] of cases) {
      const error = await run().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error, label).toBeDefined();
      expect(
        ValidationError.isInstance(error) || PayloadTooLargeError.isInstance(error),
        `${label}: ${String(error)}`,
      ).toBe(true);
      expect((error as { code: string }).code, label).toBe(code);
    }
    expect(await transport.peek!('events', 100)).toHaveLength(0);
    expect(await transport.peek!('a', 100)).toHaveLength(0);
  });

  it('publishes a bulk dispatch in one transport call per queue, after validating every item', async () => {
    const { transport, calls } = recordingPublishes(memoryTransport());
    const thrun = createThrun({ transport, routes: { 'billing.*': 'billing' } });
    const ids = await thrun.events([
      { event: 'order_created', payload: { order_id: 1 } },
      { event: UserCreated, payload: { user_id: 2 } },
      new CreatePayment({ order_id: 3 }),
      { event: 'billing.paid', payload: {} },
    ]);
    expect(ids).toHaveLength(4);
    expect(calls).toEqual([
      { queue: 'events', count: 3 },
      { queue: 'billing', count: 1 },
    ]);
    await expect(
      thrun.events([
        { event: 'ok', payload: {} },
        { event: 'Bad Name', payload: {} },
      ]),
    ).rejects.toMatchObject({ code: 'invalid_event_name' });
    expect(calls).toHaveLength(2);
    expect(await thrun.events([])).toEqual([]);
  });

  it('delays delivery with delayMs, and refuses it on a transport that cannot delay', async () => {
    const transport = memoryTransport();
    const thrun = createThrun({ transport, logger: silentLogger });
    const received: number[] = [];
    thrun.subscribe('later', () => void received.push(performance.now()));
    await thrun.start();
    const sent = performance.now();
    await thrun.event('later', {}, { delayMs: 80 });
    await waitFor(() => received.length === 1, 'the delayed event');
    expect(received[0]! - sent).toBeGreaterThanOrEqual(79);
    await thrun.close();

    const base = memoryTransport();
    const noDelay = { ...base, capabilities: { ...base.capabilities, delay: false } } as Transport;
    const strict = createThrun({ transport: noDelay });
    await expect(strict.event('later', {}, { delayMs: 10 })).rejects.toMatchObject({
      code: 'unsupported_feature',
    });
  });

  it('refuses a transport of an unknown specification version', () => {
    const transport = { ...memoryTransport(), specificationVersion: 'v9' } as unknown as Transport;
    let error: unknown;
    try {
      createThrun({ transport });
    } catch (e) {
      error = e;
    }
    expect(ConfigurationError.isInstance(error)).toBe(true);
    expect((error as ConfigurationError).code).toBe('unsupported_transport_version');
  });

  it('refuses invalid options with a ConfigurationError', () => {
    expect(() => createThrun({ retry: { maxAttempts: 0 } })).toThrow(/maxAttempts/);
    expect(() => createThrun({ queue: 'Bad Queue' })).toThrow(/invalid queue name/);
    expect(() => createThrun({ unknownEvents: 'ignore' as never })).toThrow(/unknownEvents/);
  });

  it('ctx.event sets causation and carries correlation and traceparent', async () => {
    const transport = memoryTransport();
    const thrun = createThrun({ transport, logger: silentLogger });
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    thrun.subscribe('order_created', async (payload, ctx) => {
      await ctx.event('order_confirmed', { order_id: payload.order_id as number });
    });
    const seen: unknown[] = [];
    thrun.subscribe('order_confirmed', (_payload, ctx) => {
      seen.push(ctx.envelope.meta);
    });
    await thrun.start();
    const id = await thrun.event('order_created', { order_id: 5 }, { traceparent });
    await waitFor(() => seen.length === 1, 'the follow-up event');
    expect(seen[0]).toMatchObject({ causation_id: id, correlation_id: id, traceparent });
    await thrun.close();
  });
});

function deep(levels: number): Record<string, unknown> {
  let value: Record<string, unknown> = {};
  for (let i = 0; i < levels; i++) value = { child: value };
  return value;
}

describe('what dispatch fills and passes through', () => {
  it('fills meta.spec_version on dispatch, in bulk and from a handler', async () => {
    const transport = memoryTransport();
    const thrun = createThrun({ transport, logger: silentLogger });
    await thrun.event('one', {});
    await thrun.events([{ event: 'two', payload: {} }]);
    expect((await queued(transport, 'events')).map((e) => e.meta?.spec_version)).toEqual([
      SPEC_VERSION,
      SPEC_VERSION,
    ]);
    await transport.purge!('events');
    const received: unknown[] = [];
    thrun.subscribe('one', (_payload, ctx) => ctx.event('three', {}).then(() => {}));
    thrun.subscribe('three', (_payload, ctx) => void received.push(ctx.envelope.meta?.spec_version));
    await thrun.start();
    await thrun.event('one', {});
    await waitFor(() => received.length === 1, 'the event dispatched from a handler');
    await thrun.close();
    expect(received).toEqual([SPEC_VERSION]);
  });

  it('passes `key` to the transport, so a consumer sees the key it was published with', async () => {
    const transport = memoryTransport();
    const thrun = createThrun({ transport, logger: silentLogger });
    await thrun.event('keyed', { n: 1 }, { key: 'order-7' });
    await thrun.events([
      { event: 'keyed', payload: { n: 2 }, options: { key: 'order-8' } },
      { event: 'keyed', payload: { n: 3 } },
    ]);
    const keys: (string | undefined)[] = [];
    const subscription = await transport.consume('events', async (delivery) => {
      keys.push(delivery.key);
      await delivery.ack();
    });
    await waitFor(() => keys.length === 3, 'three deliveries');
    await subscription.close();
    expect(keys).toEqual(['order-7', 'order-8', undefined]);
  });
});

describe('the group option', () => {
  it('gives each group its own copy, while processes of one group share theirs', async () => {
    const broker = createMemoryBroker();
    const seen: string[] = [];
    const service = (group: string) => {
      const thrun = createThrun({ transport: memoryTransport({ broker }), logger: silentLogger, group });
      thrun.subscribe('order_created', (payload) => void seen.push(`${group}:${payload.n}`));
      return thrun;
    };
    const services = [service('billing'), service('billing'), service('mailer')];
    await Promise.all(services.map((s) => s.start()));
    await services[0]!.events(
      Array.from({ length: 10 }, (_, n) => ({ event: 'order_created', payload: { n } })),
    );
    await waitFor(() => seen.length >= 20, 'a copy for each group');
    await Promise.all(services.map((s) => s.close()));
    const of = (group: string) =>
      seen
        .filter((entry) => entry.startsWith(`${group}:`))
        .map((entry) => Number(entry.split(':')[1]))
        .sort((a, b) => a - b);
    expect(of('billing')).toEqual([...Array(10).keys()]);
    expect(of('mailer')).toEqual([...Array(10).keys()]);
    expect(seen).toHaveLength(20);
    // The two billing processes competed for their group's copy: both did some of it.
    expect(services[0]!.stats().totals.handled).toBeGreaterThan(0);
    expect(services[1]!.stats().totals.handled).toBeGreaterThan(0);
    expect(services[0]!.stats().totals.handled + services[1]!.stats().totals.handled).toBe(10);
  });
});
