/**
 * One worker process of the scaling suite's workers case: `node scaling-worker.js thrun|bullmq <concurrency>`.
 * It connects, says `ready`, starts consuming the suite's Redis queue on `go`, reports how many jobs it
 * has handled every 10 ms, and closes on `stop`.
 */
import { Worker } from 'bullmq';
import { WORKERS_QUEUE } from './scaling-worker-queue.js';
import { connection, thrun } from './suites/redis.js';

const [side, concurrencyArg] = process.argv.slice(2);
const concurrency = Number(concurrencyArg ?? 50);
let handled = 0;
let reported = 0;
const send = (message: unknown) => process.send?.(message);
const report = setInterval(() => {
  if (handled !== reported) send({ handled: handled - reported });
  reported = handled;
}, 10);

async function start(): Promise<() => Promise<void>> {
  if (side === 'bullmq') {
    const worker = new Worker(
      WORKERS_QUEUE,
      async () => {
        handled++;
      },
      {
        connection: { ...connection, maxRetriesPerRequest: null },
        prefix: 'thrun-bench:bull',
        concurrency,
        autorun: false,
      },
    );
    await worker.waitUntilReady();
    await waitFor('go');
    void worker.run();
    return () => worker.close();
  }
  const transport = thrun();
  await transport.publish('warm-up', [{ body: new TextEncoder().encode('{}') }]); // connect before `go`
  await waitFor('go');
  await transport.consume(
    WORKERS_QUEUE,
    async (delivery) => {
      await delivery.ack();
      handled++;
    },
    { concurrency },
  );
  return () => transport.close({ drainTimeoutMs: 1000 });
}

function waitFor(word: string): Promise<void> {
  return new Promise((resolve) => {
    const listener = (message: unknown) => {
      if (message !== word) return;
      process.off('message', listener);
      resolve();
    };
    process.on('message', listener);
    if (word === 'go') send('ready');
  });
}

const stop = await start();
await waitFor('stop');
clearInterval(report);
await stop();
process.exit(0);
