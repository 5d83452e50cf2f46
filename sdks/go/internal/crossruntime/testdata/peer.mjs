// The TypeScript side of the Go module's cross-runtime tests, on the built packages of this
// repository. One JSON line per event on stdout.
//   node peer.mjs produce <url> <mode> <queue> <event> <payload json> <count>
//   node peer.mjs consume <url> <mode> <queue> <event> <count> <fail first n attempts>
//   node peer.mjs dead    <url> <mode> <queue>
//   node peer.mjs batch   <url> <mode> <queue> <steps queue> <step events, comma-separated>
import { fileURLToPath, pathToFileURL } from 'node:url';

const packages = fileURLToPath(new URL('../../../../../packages/', import.meta.url));
const load = (name) => import(pathToFileURL(`${packages}${name}/dist/index.js`).href);
const { createThrun, silentLogger } = await load('core');
const { redisTransport } = await load('transport-redis');
const { decodeDeadLetter } = await load('contract');

const [command, url, mode, queue, ...rest] = process.argv.slice(2);
const print = (line) => process.stdout.write(`${JSON.stringify(line)}\n`);

if (command === 'produce') {
  const [event, payload, count] = rest;
  const thrun = createThrun({
    transport: redisTransport({ url, mode }),
    queue,
    source: 'node',
    logger: silentLogger,
  });
  for (let i = 0; i < Number(count); i++) print({ event_id: await thrun.event(event, JSON.parse(payload)) });
  await thrun.close();
  process.exit(0);
} else if (command === 'consume') {
  const [event, count, failFirst] = rest;
  const thrun = createThrun({
    transport: redisTransport({ url, mode }),
    queue,
    logger: silentLogger,
    retry: { maxAttempts: 5, backoffMs: 10, maxBackoffMs: 50 },
  });
  let handled = 0;
  thrun.subscribe(event, async (payload, ctx) => {
    if (ctx.attempt <= Number(failFirst)) throw new Error(`failing attempt ${ctx.attempt}`);
    print({ payload, meta: ctx.envelope.meta, attempt: ctx.attempt });
    if (++handled === Number(count))
      setImmediate(async () => {
        await thrun.stop();
        process.exit(0);
      });
  });
  await thrun.start();
  print({ ready: true });
} else if (command === 'dead') {
  const { Redis } = await import(
    pathToFileURL(`${packages}transport-redis/node_modules/ioredis/built/index.js`).href
  );
  const redis = new Redis(url);
  const values =
    mode === 'stream'
      ? (await redis.xrangeBuffer(`${queue}.dead`, '-', '+')).map(([, fields]) => fields[1])
      : (await redis.lrangeBuffer(`${queue}.dead`, 0, -1)).reverse();
  for (const value of values) {
    const letter = decodeDeadLetter({ body: new Uint8Array(value) });
    print({ ...letter, originalBody: Buffer.from(letter.originalBody).toString('utf8') });
  }
  redis.disconnect();
  process.exit(0);
} else if (command === 'batch') {
  // A coordinator: runs the batch engine (accepting step reports), routes the steps to a queue that
  // only the worker under test consumes, and prints every lifecycle event it sees.
  const [stepsQueue, steps] = rest;
  const thrun = createThrun({
    transport: redisTransport({ url, mode }),
    queue,
    routes: { 'step.*': stepsQueue },
    logger: silentLogger,
    batches: { acceptReports: true },
  });
  for (const event of ['order.success', 'order.failed', 'order.finished', 'order.progress']) {
    thrun.subscribe(event, (payload, ctx) => {
      print({ event, payload, event_id: ctx.envelope.meta.event_id });
      if (event === 'order.finished')
        setTimeout(async () => {
          await thrun.stop();
          process.exit(0);
        }, 1500);
    });
  }
  await thrun.start();
  const id = await thrun
    .batch(steps.split(',').map((event, i) => ({ event, payload: { step: i } })))
    .then('order.success')
    .catch('order.failed')
    .finally('order.finished')
    .progress('order.progress');
  print({ batch_id: id });
} else {
  process.stderr.write(`unknown command ${command}\n`);
  process.exit(2);
}
