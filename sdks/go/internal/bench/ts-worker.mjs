// The TypeScript side of the Go benchmark (main.go): the TypeScript worker (createThrun on
// @thrun/transport-redis, Lists mode) consumes the queue the benchmark filled, with a handler that
// does nothing, and prints {"rate": messages per second} once the last message was handled.
// The clock runs from start() to the last handler, as the Go worker's does.
//   node ts-worker.mjs <redis url> <queue> <messages> <concurrency>
import { fileURLToPath, pathToFileURL } from 'node:url';

const packages = fileURLToPath(new URL('../../../../packages/', import.meta.url));
const load = (name) => import(pathToFileURL(`${packages}${name}/dist/index.js`).href);
const { createThrun, silentLogger } = await load('core');
const { redisTransport } = await load('transport-redis');

const [url, queue, messages, concurrency] = process.argv.slice(2);
const total = Number(messages);
const thrun = createThrun({
  transport: redisTransport({ url, mode: 'list' }),
  queue,
  concurrency: Number(concurrency),
  logger: silentLogger,
});
let handled = 0;
let finished = () => {};
const all = new Promise((resolve) => {
  finished = resolve;
});
thrun.subscribe('bench', async () => {
  if (++handled === total) finished(performance.now());
});
const start = performance.now();
await thrun.start();
const last = await all;
process.stdout.write(`${JSON.stringify({ rate: total / ((last - start) / 1000) })}\n`);
await thrun.stop();
process.exit(0);
