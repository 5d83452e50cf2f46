/**
 * The `thrun` command run as a subprocess against real brokers, the way an operator uses it: its
 * tables and `--json` output, exit codes, filters, confirmations, and that a tail never takes a
 * message from the workers.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { QueueStats, Transport } from '@thrun/contract';
import { createThrun, NonRetryableError, silentLogger, type Thrun } from '@thrun/core';
import { redisBatchStore } from '@thrun/transport-redis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { openTransport, resolveConnection } from './connection.js';
import { collect, json, runCli, startCli } from './test-support/run-cli.js';

const redisUrl = process.env.THRUN_REDIS_URL ?? 'redis://127.0.0.1:6379';
const amqpUrl =
  process.env.THRUN_RABBITMQ_URL ?? process.env.THRUN_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const kafkaBrokers = process.env.THRUN_KAFKA_BROKERS ?? '127.0.0.1:9092';

interface Broker {
  name: string;
  env: Record<string, string>;
  fanout: boolean;
}

const brokers: Broker[] = [
  { name: 'redis lists', env: { THRUN_REDIS_URL: redisUrl }, fanout: false },
  { name: 'redis streams', env: { THRUN_REDIS_URL: redisUrl, THRUN_REDIS_MODE: 'stream' }, fanout: true },
  { name: 'rabbitmq', env: { THRUN_RABBITMQ_URL: amqpUrl }, fanout: true },
  { name: 'kafka', env: { THRUN_KAFKA_BROKERS: kafkaBrokers }, fanout: true },
];

const encoder = new TextEncoder();
const uniqueQueue = (label: string) => `cli-${label}-${randomBytes(4).toString('hex')}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function eventually<T>(
  read: () => Promise<T>,
  accept: (value: T) => boolean,
  what: string,
): Promise<T> {
  let last: T | undefined;
  for (const started = Date.now(); Date.now() - started < 30_000; ) {
    last = await read();
    if (accept(last)) return last;
    await sleep(200);
  }
  throw new Error(`timed out waiting for ${what}; last seen: ${JSON.stringify(last)}`);
}

const opened: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const item of opened.splice(0).reverse()) await item.close().catch(() => {});
});

function transportFor(broker: Broker): Transport {
  const transport = openTransport(resolveConnection({ env: broker.env, configFile: '' }));
  opened.push({ close: () => transport.close({ drainTimeoutMs: 500 }) });
  return transport;
}

/** A worker on `queue`: fails `order.created` for good until healed, records what it handled. */
async function worker(broker: Broker, queue: string, extra: Parameters<typeof createThrun>[0] = {}) {
  const thrun: Thrun = createThrun({
    transport: transportFor(broker),
    queue,
    logger: silentLogger,
    retry: { maxAttempts: 1, backoffMs: 5 },
    ...extra,
  });
  opened.push({ close: () => thrun.stop({ drainTimeoutMs: 500 }) });
  const handled: string[] = [];
  let healthy = true;
  thrun.subscribe('#', (payload, ctx) => {
    if (!healthy && ctx.name === 'order.created') throw new NonRetryableError('the payment service is down');
    handled.push(`${ctx.name} ${JSON.stringify(payload)}`);
  });
  await thrun.start();
  return {
    thrun,
    handled,
    break: () => {
      healthy = false;
    },
    heal: () => {
      healthy = true;
    },
  };
}

const rowOf = (rows: QueueStats[], queue: string) =>
  rows.find((row) => row.queue === queue && (row.group === undefined || row.group === 'default'));

for (const broker of brokers) {
  describe(`thrun on ${broker.name}`, () => {
    const cli = (args: string[]) => runCli(args, broker.env);

    it('dispatch, then queues shows the counts as a table and as JSON', async () => {
      const queue = uniqueQueue('queues');
      for (const n of [1, 2, 3]) {
        const dispatched = json<{ eventId: string }>(
          await cli(['dispatch', 'order.created', JSON.stringify({ n }), '--queue', queue, '--json']),
        );
        expect(dispatched.eventId).toMatch(/^[0-9a-f-]{36}$/);
      }
      const rows = await eventually(
        async () => json<QueueStats[]>(await cli(['queues', queue, '--json'])),
        (found) => rowOf(found, queue)?.waiting === 3,
        'three waiting',
      );
      expect(rows.every((row) => row.queue === queue)).toBe(true);
      const shown = await cli(['queues', queue]);
      expect(shown.code).toBe(0);
      const [header, line] = shown.stdout.trimEnd().split('\n');
      expect(header).toMatch(/^QUEUE\s+GROUP\s+WAITING\s+IN FLIGHT\s+DELAYED\s+DEAD\s+CONSUMERS$/);
      expect(line?.split(/\s+/).slice(0, 3)).toEqual([queue, rowOf(rows, queue)?.group ?? '-', '3']);

      // Once a worker handled them, nothing waits; its watch heading names the broker without credentials.
      const { handled } = await worker(broker, queue);
      await eventually(
        async () => handled.length,
        (n) => n === 3,
        'three handled',
      );
      await eventually(
        async () => json<QueueStats[]>(await cli(['queues', queue, '--json'])),
        (found) => rowOf(found, queue)?.waiting === 0,
        'nothing waiting',
      );
      const watched = await cli(['queues', queue, '--watch', '100', '--times', '2']);
      expect(watched.code).toBe(0);
      expect(watched.stdout.match(/^QUEUE/gm)).toHaveLength(2);
      expect(watched.stdout).not.toContain('guest:guest');
    });

    it('dead list, show, replay and purge, with filters, a dry run, progress and confirmation', async () => {
      const queue = uniqueQueue('dead');
      const bus = await worker(broker, queue);
      bus.break();
      const transport = transportFor(broker);
      await transport.publish(queue, [{ body: encoder.encode('{"event": oops') }]);
      await bus.thrun.event('order.created', { n: 1, note: '\u001b[31m<script>alert(1)</script>' });
      await bus.thrun.event('order.created', { n: 2 });
      const listAll = async () =>
        json<{ event: string | null; reason: { code: string } }[]>(
          await cli(['dead', 'list', '--queue', queue, '--json']),
        );
      await eventually(listAll, (entries) => entries.length === 3, 'three dead letters');

      const poison = json<{ event: null; reason: { code: string } }[]>(
        await cli(['dead', 'list', '--queue', queue, '--reason', 'invalid_json', '--json']),
      );
      expect(poison.map((entry) => [entry.event, entry.reason.code])).toEqual([[null, 'invalid_json']]);
      const orders = json<{ position: number; event: string; envelope: { payload: { n: number } } }[]>(
        await cli(['dead', 'list', '--queue', queue, '--event', 'order.*', '--json']),
      );
      expect(orders.map((entry) => entry.event)).toEqual(['order.created', 'order.created']);
      const table = await cli(['dead', 'list', '--queue', queue]);
      expect(table.stdout).toMatch(/^POS\s+EVENT\s+REASON\s+ATTEMPTS\s+FAILED AT\s+MESSAGE$/m);
      expect(table.stdout).toContain('(not an envelope)');

      // What a payload carries is shown, never played to the terminal.
      const first = orders.find((entry) => entry.envelope.payload.n === 1)!.position;
      const shown = await cli(['dead', 'show', String(first), '--queue', queue]);
      expect(shown.code).toBe(0);
      expect(shown.stdout).toMatch(/reason:\s+non_retryable: the payment service is down/);
      expect(shown.stdout).toContain('\\u001b[31m<script>');
      expect(shown.stdout).not.toContain('\u001b');
      expect((await cli(['dead', 'show', '99', '--queue', queue])).code).toBe(4);

      const dry = json<{ wouldReplay: number }>(
        await cli(['dead', 'replay', '--queue', queue, '--event', 'order.created', '--dry-run', '--json']),
      );
      expect(dry.wouldReplay).toBe(2);
      expect(await listAll()).toHaveLength(3);

      bus.heal();
      const replayed = await cli([
        'dead',
        'replay',
        '--queue',
        queue,
        '--event',
        'order.created',
        '--progress',
      ]);
      expect(replayed.code).toBe(0);
      expect(replayed.stdout).toBe('replayed 2, kept 1\n');
      expect(replayed.stderr).toMatch(/replaying \[#+\] 100% 3\/3 replayed 2, kept 1/);
      await eventually(
        async () => bus.handled.length,
        (n) => n === 2,
        'both replayed orders handled',
      );
      await eventually(listAll, (entries) => entries.length === 1, 'the poison message left');

      // Purging asks first; without a terminal to ask on, it refuses and changes nothing.
      const refused = await cli(['dead', 'purge', '--queue', queue]);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain('--yes');
      expect(await listAll()).toHaveLength(1);
      expect(
        json<{ purged: number }>(await cli(['dead', 'purge', '--queue', queue, '--yes', '--json'])).purged,
      ).toBe(1);
      await eventually(listAll, (entries) => entries.length === 0, 'an empty dead-letter queue');
    });

    it('tail prints matching live events as its own group, and the workers still get every one', async () => {
      const queue = uniqueQueue('tail');
      const { handled, thrun } = await worker(broker, queue);
      const tail = startCli(['tail', 'order.*', '--queue', queue, '--count', '2', '--json'], broker.env);
      const result = collect(tail);
      if (!broker.fanout) {
        const refused = await result;
        expect(refused.code).toBe(3);
        expect(refused.stderr).toContain('would take messages from the workers');
        return;
      }
      await new Promise<void>((resolve) => {
        let text = '';
        tail.stderr?.on('data', (chunk: Buffer) => {
          text += chunk.toString();
          if (text.includes('tailing')) resolve();
        });
      });
      await thrun.event('order.created', { n: 1 });
      await thrun.event('billing.done', { n: 2 });
      await thrun.event('order.paid', { n: 3 });
      const { code, stdout } = await result;
      expect(code).toBe(0);
      const lines = stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { event: string; payload: { n: number } });
      expect(lines.map((line) => [line.event, line.payload.n])).toEqual([
        ['order.created', 1],
        ['order.paid', 3],
      ]);
      await eventually(
        async () => handled.length,
        (n) => n === 3,
        'the worker handled all three',
      );
      const groups = json<QueueStats[]>(await cli(['queues', queue, '--json'])).map((row) => row.group);
      expect(groups.filter((group) => group?.startsWith('thrun-tail-'))).toEqual([]);
    });

    it('refuses bad input with exit code 2 and a missing batch store with 3', async () => {
      expect((await cli(['dispatch', 'order.created', '[1]'])).code).toBe(2);
      expect((await cli(['dispatch', 'Not An Event', '{}'])).code).toBe(2);
      expect((await cli(['queues', '--times', 'zero'])).code).toBe(2);
      expect((await cli(['no-such-command'])).code).toBe(2);
      if (!('THRUN_REDIS_URL' in broker.env)) expect((await cli(['batches', 'list'])).code).toBe(3);
    });
  });
}

describe('thrun batches (Redis batch store)', () => {
  const env = { THRUN_REDIS_URL: redisUrl };
  const cli = (args: string[]) => runCli(args, env);
  const store = redisBatchStore({ url: redisUrl });
  afterAll(() => store.close());

  it('lists, shows and cancels a running batch', async () => {
    const queue = uniqueQueue('batch');
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const thrun = createThrun({
      transport: transportFor(brokers[0]!),
      queue,
      logger: silentLogger,
      batches: { store },
    });
    opened.push({
      close: async () => {
        release();
        await thrun.stop({ drainTimeoutMs: 500 });
      },
    });
    const started: string[] = [];
    thrun.subscribe('create_payment', async () => {
      started.push('create_payment');
      await gate;
    });
    thrun.subscribe('create_order', () => void started.push('create_order'));
    await thrun.start();
    const name = `orders-${randomBytes(4).toString('hex')}`;
    const id = await thrun.batch(
      [
        { event: 'create_payment', payload: { order_id: 1 } },
        { event: 'create_order', payload: { order_id: 1 } },
      ],
      { name },
    );
    await eventually(
      async () => started.length,
      (n) => n === 1,
      'the first step running',
    );

    const listed = json<{ id: string; status: string; percent: number; total: number }[]>(
      await cli(['batches', 'list', '--name', name, '--json']),
    );
    expect(listed.map((b) => [b.id, b.status, b.percent, b.total])).toEqual([[id, 'running', 0, 2]]);
    const table = await cli(['batches', 'list', '--name', name]);
    expect(table.stdout).toMatch(/^ID\s+NAME\s+STATUS\s+PROGRESS\s+DONE\s+FAILED\s+TOTAL\s+CREATED$/m);
    expect(table.stdout).toContain(`${id}  ${name}  running`);
    expect(json<{ status: string }>(await cli(['batches', 'show', id, '--json'])).status).toBe('running');
    expect((await cli(['batches', 'show', 'no-such-batch'])).code).toBe(4);

    const refused = await cli(['batches', 'cancel', id]);
    expect(refused.code).toBe(2);
    expect(json<{ cancelled: boolean }>(await cli(['batches', 'cancel', id, '--yes', '--json']))).toEqual({
      id,
      cancelled: true,
    });
    expect(json<{ status: string }>(await cli(['batches', 'show', id, '--json'])).status).toBe('cancelled');
    expect((await cli(['batches', 'cancel', id, '--yes'])).code).toBe(1);
    expect(
      json<{ id: string }[]>(await cli(['batches', 'list', '--name', name, '--status', 'running', '--json'])),
    ).toEqual([]);
    release();
    await sleep(300);
    expect(started).toEqual(['create_payment']);
  });
});

describe('thrun configuration', () => {
  it('reads a config file in the working directory, and never prints credentials', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'thrun-cli-'));
    const queue = uniqueQueue('config');
    writeFileSync(join(dir, 'thrun.config.json'), JSON.stringify({ redisUrl, queues: [queue] }));
    const rows = json<QueueStats[]>(await runCli(['queues', '--json'], {}, dir));
    expect(rows.find((row) => row.queue === queue)?.waiting).toBe(0);

    const failed = await runCli(
      ['queues', '--redis-url', 'redis://admin:hunter2@127.0.0.1:1/0', '--json'],
      {},
      dir,
    );
    expect(failed.code).toBe(1);
    expect(JSON.parse(failed.stderr)).toMatchObject({ error: { message: expect.any(String) } });
    expect(failed.stderr).not.toContain('hunter2');

    const none = await runCli(['queues'], {});
    expect(none.code).toBe(3);
    expect(none.stderr).toContain('THRUN_REDIS_URL');
  });
});
