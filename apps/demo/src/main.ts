/**
 * The order story: an order service dispatches `order_created`; listeners discovered from
 * ./listeners/ handle it (one decorated class, one defined without a decorator), plus one subscribed
 * here by hand. The stock listener fails twice and succeeds on its third attempt; a legacy producer
 * pushes a broken message, which lands in the dead-letter queue and is shown. Then the order
 * batch (payment, order, email) runs step by step, reporting progress, success and, in a variant whose
 * card is declined, failure, all as events.
 *
 *   pnpm --filter @thrun/demo start [--transport memory|redis|rabbitmq|kafka]
 */
import { parseArgs } from 'node:util';
import type { Envelope } from '@thrun/contract';
import { createThrun, NonRetryableError, silentLogger } from '@thrun/core';
import {
  type BatchLifecyclePayload,
  CreateOrder,
  CreatePayment,
  OrderCreated,
  type OrderReadyPayload,
  SendOrderEmail,
} from './events.js';
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

heading('6. The order batch: payment, order, email, one after another');
const declined = new Set([1004]);
thrun.subscribe<{ order_id: number }>(CreatePayment, (payload, ctx) => {
  if (declined.has(payload.order_id)) {
    trace('✗', `createPayment           order ${payload.order_id}: card declined (attempt ${ctx.attempt})`);
    throw new NonRetryableError('card declined');
  }
  trace('✓', `createPayment           step ${stepOf(ctx.envelope)}: order ${payload.order_id} paid`);
});
thrun.subscribe(CreateOrder, (_payload, ctx) =>
  trace('✓', `createOrder             step ${stepOf(ctx.envelope)}: order record written`),
);
thrun.subscribe(SendOrderEmail, (_payload, ctx) =>
  trace('✓', `sendOrderEmail          step ${stepOf(ctx.envelope)}: confirmation sent`),
);
const finished = new Set<string>();
thrun.subscribe<BatchLifecyclePayload>('order.progress', (p) =>
  trace('…', `order.progress          ${p.completed}/${p.total} (${p.percent}%)`),
);
thrun.subscribe<BatchLifecyclePayload>('order.success', (p) =>
  trace('★', `order.success           order ${p.order_id}: every step done`),
);
thrun.subscribe<BatchLifecyclePayload>('order.failed', (p) =>
  trace(
    '✗',
    `order.failed            order ${p.order_id}: ${p.failed_job?.event} (step ${p.failed_job?.index}) failed: ${p.error?.message}`,
  ),
);
thrun.subscribe<BatchLifecyclePayload>('order.finished', (p) => {
  trace('■', `order.finished          order ${p.order_id}: ${p.status}`);
  finished.add(p.batch_id);
});

for (const orderId of [1003, 1004]) {
  trace(
    '→',
    `order service: batch for order ${orderId}${declined.has(orderId) ? ' (this card will be declined)' : ''}`,
  );
  const batchId = await thrun
    .batch([new CreatePayment({ order_id: orderId }), new CreateOrder(), new SendOrderEmail()], {
      shared: { order_id: orderId },
    })
    .then('order.success')
    .catch('order.failed')
    .finally('order.finished')
    .progress('order.progress');
  await until(() => finished.has(batchId), `batch ${batchId} to finish`);
  const status = await thrun.batches.get(batchId);
  console.log(
    `  thrun.batches.get(${short(batchId)}) → ${status?.status}, ${status?.completed}/${status?.total} steps`,
  );
}

await thrun.deadLetters.purge(queue);
await thrun.close({ drainTimeoutMs: 2_000 });
console.log('\nDone.');

function stepOf(envelope: Envelope): string {
  const batch = envelope.meta?.batch;
  return batch ? `${batch.index + 1}/${batch.total}` : '-';
}

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
