import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { createThrun, permanent, silentLogger } from '@thrun/core';
import { redisTransport } from '@thrun/transport-redis';
import { describe, expect, it } from 'vitest';
import { metricsHandler, thrunMetrics } from './index.js';

const run = promisify(execFile);

/** `promtool check metrics` reads the exposition on stdin and exits non-zero on any lint problem. */
async function promtoolCheck(text: string): Promise<{ ok: boolean; output: string }> {
  return new Promise((resolve) => {
    const child = execFile('promtool', ['check', 'metrics'], (error, stdout, stderr) =>
      resolve({ ok: !error, output: `${stdout}${stderr}` }),
    );
    child.stdin!.end(text);
  });
}

function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

async function settled(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('thrunMetrics', () => {
  it('counts dispatched, handled, retried and dead-lettered events per event and queue', async () => {
    const metrics = thrunMetrics();
    const thrun = createThrun({
      hooks: metrics.hooks,
      logger: silentLogger,
      retry: { maxAttempts: 2, backoffMs: 1, jitter: false },
    });
    let flaky = 0;
    thrun.subscribe('order_created', () => {});
    thrun.subscribe('order_flaky', () => {
      if (flaky++ === 0) throw new Error('first attempt fails');
    });
    thrun.subscribe('order_poison', () => {
      throw permanent('never');
    });
    await thrun.start();
    await thrun.event('order_created', { id: 1 });
    await thrun.event('order_created', { id: 2 });
    await thrun.event('order_flaky', { id: 3 });
    await thrun.event('order_poison', { id: 4 });
    await settled(() => {
      const totals = thrun.stats().totals;
      return totals.handled === 3 && totals.deadLettered === 1;
    });
    await thrun.close();

    const text = await metrics.text();
    expect(value(text, 'thrun_events_dispatched_total{event="order_created",queue="events"}')).toBe(2);
    expect(value(text, 'thrun_events_handled_total{event="order_created",queue="events"}')).toBe(2);
    expect(value(text, 'thrun_events_handled_total{event="order_flaky",queue="events"}')).toBe(1);
    expect(value(text, 'thrun_events_retried_total{event="order_flaky",queue="events"}')).toBe(1);
    expect(
      value(
        text,
        'thrun_events_dead_lettered_total{event="order_poison",queue="events",reason="non_retryable"}',
      ),
    ).toBe(1);
    expect(
      value(
        text,
        'thrun_handler_duration_seconds_count{event="order_flaky",queue="events",outcome="failure"}',
      ),
    ).toBe(1);
    expect(
      value(
        text,
        'thrun_handler_duration_seconds_count{event="order_flaky",queue="events",outcome="success"}',
      ),
    ).toBe(1);
    expect(value(text, 'thrun_events_in_flight{event="order_created",queue="events"}')).toBe(0);
  });

  it('labels undecodable bytes and event names past the cap so the series stay bounded', async () => {
    const metrics = thrunMetrics({ maxEventNames: 2 });
    const thrun = createThrun({ hooks: metrics.hooks, logger: silentLogger, unknownEvents: 'drop' });
    thrun.subscribe('#', () => {});
    await thrun.start();
    await thrun.transport.publish('events', [{ body: new TextEncoder().encode('{not json') }]);
    for (const name of ['a_one', 'a_two', 'a_three', 'a_four']) await thrun.event(name, {});
    await settled(() => thrun.stats().totals.handled === 4 && thrun.stats().totals.rejected === 1);
    await thrun.close();
    const text = await metrics.text();
    expect(
      value(
        text,
        'thrun_events_dead_lettered_total{event="_undecoded",queue="events",reason="invalid_json"}',
      ),
    ).toBe(1);
    expect(value(text, 'thrun_events_dispatched_total{event="a_one",queue="events"}')).toBe(1);
    expect(value(text, 'thrun_events_dispatched_total{event="_other",queue="events"}')).toBe(2);
  });

  it('exports queue depths from inspection at scrape time and counts a failed inspection', async () => {
    let fail = false;
    const metrics = thrunMetrics({
      queueDepths: async () => {
        if (fail) throw new Error('broker away');
        return [
          { queue: 'events', group: 'default', waiting: 7, inFlight: 2, delayed: 1, dead: 3, consumers: 4 },
          { queue: 'billing', waiting: 0 },
        ];
      },
    });
    let text = await metrics.text();
    expect(value(text, 'thrun_queue_messages{queue="events",group="default",state="waiting"}')).toBe(7);
    expect(value(text, 'thrun_queue_messages{queue="events",group="default",state="dead"}')).toBe(3);
    expect(value(text, 'thrun_queue_messages{queue="billing",group="",state="waiting"}')).toBe(0);
    expect(value(text, 'thrun_queue_messages{queue="billing",group="",state="dead"}')).toBeUndefined();
    expect(value(text, 'thrun_queue_consumers{queue="events",group="default"}')).toBe(4);
    fail = true;
    await new Promise((r) => setImmediate(r));
    text = await metrics.text();
    expect(
      value(text, 'thrun_queue_messages{queue="events",group="default",state="waiting"}'),
    ).toBeUndefined();
    expect(value(text, 'thrun_inspection_failures_total')).toBe(1);
  });

  it('serves the exposition over node:http, and promtool check metrics accepts it', async () => {
    const metrics = thrunMetrics({
      queueDepths: async () => [{ queue: 'events', waiting: 1, consumers: 1 }],
    });
    const thrun = createThrun({ hooks: metrics.hooks, logger: silentLogger });
    thrun.subscribe('order_created', () => {});
    await thrun.start();
    await thrun.event('order_created', { id: 1 });
    await settled(() => thrun.stats().totals.handled === 1);
    await thrun.close();

    const server = createServer(metricsHandler(metrics)).listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    try {
      const response = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toContain('text/plain; version=0.0.4');
      const text = await response.text();
      expect(text).toContain('# TYPE thrun_handler_duration_seconds histogram');
      const check = await promtoolCheck(text);
      expect(check.output).toBe('');
      expect(check.ok).toBe(true);
      expect((await fetch(`http://127.0.0.1:${port}/metrics`, { method: 'POST' })).status).toBe(405);
    } finally {
      server.close();
    }
  });

  it('promtool is a real linter here: it rejects a counter without _total', async () => {
    const { stdout } = await run('promtool', ['--version']);
    expect(stdout).toContain('promtool');
    const check = await promtoolCheck('# HELP jobs Jobs.\n# TYPE jobs counter\njobs 1\n');
    expect(check.ok).toBe(false);
    expect(check.output).toContain('counter metrics should have "_total" suffix');
  });

  it('reads the depth gauges from a real Redis through inspect()', async () => {
    const url = process.env.THRUN_REDIS_URL ?? 'redis://127.0.0.1:6390';
    const transport = redisTransport({ url, keyPrefix: `thrun-metrics-${randomBytes(4).toString('hex')}:` });
    const thrun = createThrun({ transport, logger: silentLogger });
    try {
      const metrics = thrunMetrics({ transport, inspect: { queues: ['events'] } });
      await thrun.events([1, 2, 3].map((id) => ({ event: 'order_created', payload: { id } })));
      const text = await metrics.text();
      expect(value(text, 'thrun_inspection_failures_total')).toBe(0);
      expect(value(text, 'thrun_queue_messages{queue="events",group="",state="waiting"}')).toBe(3);
      expect(value(text, 'thrun_queue_messages{queue="events",group="",state="dead"}')).toBe(0);
      expect((await promtoolCheck(text)).ok).toBe(true);
    } finally {
      await thrun.close();
    }
  });
});
