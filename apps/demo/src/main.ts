/**
 * The order story: an order service dispatches `order_created`; listeners discovered from
 * ./listeners/ handle it (one decorated class, one defined without a decorator), plus one subscribed
 * here by hand. The stock listener fails twice and succeeds on its third attempt; a legacy producer
 * pushes a broken message, which lands in the dead-letter queue and is shown.
 *
 *   pnpm --filter @thrun/demo start [--transport memory|redis|rabbitmq|kafka]
 */
import { parseArgs } from 'node:util';
import { createThrun, silentLogger } from '@thrun/core';
import { OrderCreated, type OrderReadyPayload } from './events.js';
import { heading, short, trace } from './trace.js';
import { AdapterMissingError, loadTransport } from './transports.js';

const { values } = parseArgs({ options: { transport: { type: 'string', default: 'memory' } } });
const transportName = values.transport ?? 'memory';

let transport: Awaited<ReturnType<typeof loadTransport>>;
try {
  transport = await loadTransport(transportName);
} catch (error) {
  if (error instanceof AdapterMissingError) {
    console.error(`thrun demo: cannot run on "${transportName}": ${error.message}.`);
    process.exit(2);
  }
  throw error;
}

const queue = 'orders';
const thrun = createThrun({
  transport,
  source: 'order-service',
  queue,
  retry: { maxAttempts: 5, backoffMs: 100, maxBackoffMs: 2_000 },
  concurrency: 4,
  logger: silentLogger,
  hooks: {
    onRetry: ({ envelope, attempt, delayMs }) =>
      trace('↻', `${envelope.event}: attempt ${attempt} failed, retrying in ${delayMs} ms`),
    onDeadLetter: ({ queue, reason }) => trace('☠', `dead-lettered to "${queue}.dead": ${reason.code}`),
  },
});

console.log(`Thrun demo: the order story on the ${transport.name} transport`);

heading('1. Listeners');
const report = await thrun.discover(new URL('./listeners/', import.meta.url));
for (const listener of report.listeners) {
  const how = listener.kind === 'decorated' ? '@ThrunEventListener class' : 'defineListener()';
  console.log(
    `  ${listener.name.padEnd(22)} ← ${listener.pattern.padEnd(14)} ${how} in listeners/${listener.module}`,
  );
}
let ready = false;
thrun.subscribe<OrderReadyPayload>('order_ready', function shipOrder(payload, ctx) {
  trace(
    '✓',
    `shipOrder               order ${payload.order_id} is ready to ship (caused by ${short(ctx.envelope.meta?.causation_id)})`,
  );
  ready = true;
});
console.log(`  ${'shipOrder'.padEnd(22)} ← ${'order_ready'.padEnd(14)} thrun.subscribe() in main.ts`);

heading('2. The order service dispatches order_created; the worker handles it');
await thrun.start();
trace('→', 'order service: dispatching order_created for order 1001');
await thrun.event(
  new OrderCreated({ order_id: 1001, email: 'ada@example.com', items: [{ sku: 'book-1', quantity: 2 }] }),
);
await until(() => ready, 'the order to be ready');

heading('3. A legacy producer pushes a broken message (poison)');
const poison = '{"event":"order_created","payload":{"order_id":1002,';
trace('→', `raw bytes to "${queue}": ${poison}`);
await transport.publish(queue, [{ body: new TextEncoder().encode(poison) }]);
await until(
  async () => (await thrun.deadLetters.list(queue)).length > 0,
  'the poison message to be dead-lettered',
);

heading(`4. The dead-letter queue "${queue}.dead"`);
for (const entry of await thrun.deadLetters.list(queue)) {
  console.log(`  #${entry.position}  reason: ${entry.error.code} (${entry.error.message})`);
  console.log(`      attempts: ${entry.attempts}, failed at ${entry.failedAt}`);
  console.log(`      original bytes: ${new TextDecoder().decode(entry.body)}`);
}

heading('5. Stats');
for (const [name, stats] of Object.entries(thrun.stats().events)) {
  console.log(
    `  ${name.padEnd(14)} dispatched ${stats.dispatched}, handled ${stats.handled}, retried ${stats.retried}, dead-lettered ${stats.deadLettered}, p50 ${stats.latency.p50Ms.toFixed(2)} ms`,
  );
}
console.log(`  undecodable messages: ${thrun.stats().totals.rejected}`);

await thrun.deadLetters.purge(queue);
await thrun.close({ drainTimeoutMs: 2_000 });
console.log('\nDone.');

async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) {
      console.error(`thrun demo: timed out waiting for ${what}`);
      process.exit(1);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
