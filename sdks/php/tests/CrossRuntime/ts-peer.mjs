// The TypeScript side of the PHP cross-runtime tests, on the built packages (`bash scripts/pnpm.sh build`).
//
//   node ts-peer.mjs produce <transport> <queue> <event> <payload JSON>
//   node ts-peer.mjs consume <transport> <queue> <count> <event>…        prints one JSON line per event handled
//   node ts-peer.mjs batch <queue> <jobs JSON>                           prints the batch id
//   node ts-peer.mjs engine <queue> <count> <event>…                     runs steps and records reports with the
//                                                                        Redis batch store, prints handled events
//                                                                        (THRUN_PEER_ROUTES: its routes, as JSON)
//   node ts-peer.mjs dead <queue>                                        decodes <queue>.dead (Redis list) with the
//                                                                        contract's decodeDeadLetter, one JSON line each
//   node ts-peer.mjs shas                                                prints the Redis scripts' SHA-1s
//
// <transport>: redis-lists, redis-streams or rabbitmq; brokers from THRUN_REDIS_URL and THRUN_AMQP_URL.
import { createHash } from 'node:crypto';

const packages = new URL('../../../../packages/', import.meta.url);
const load = (name) => import(new URL(`${name}/dist/index.js`, packages).href);
const { createThrun, silentLogger } = await load('core');

async function transportOf(name) {
  if (name === 'rabbitmq') {
    const { rabbitmqTransport } = await load('transport-rabbitmq');
    return rabbitmqTransport({ url: process.env.THRUN_AMQP_URL });
  }
  const { redisTransport } = await load('transport-redis');
  return redisTransport({
    url: process.env.THRUN_REDIS_URL,
    mode: name === 'redis-streams' ? 'stream' : 'list',
  });
}

async function batchStore() {
  const { redisBatchStore } = await load('transport-redis');
  return redisBatchStore({ url: process.env.THRUN_REDIS_URL });
}

function collect(app, events, count) {
  return new Promise((resolve) => {
    let left = count;
    for (const event of events) {
      app.subscribe(event, (payload, ctx) => {
        console.log(
          JSON.stringify({
            event: ctx.envelope.event,
            payload,
            meta: ctx.envelope.meta,
            attempt: ctx.attempt,
          }),
        );
        if (--left === 0) resolve();
      });
    }
  });
}

const [command, ...args] = process.argv.slice(2);
const timeout = setTimeout(() => {
  console.error('ts-peer: timed out');
  process.exit(3);
}, 20_000);

if (command === 'produce') {
  const [transport, queue, event, payload] = args;
  const app = createThrun({
    transport: await transportOf(transport),
    queue,
    source: 'node',
    logger: silentLogger,
  });
  console.log(await app.event(event, JSON.parse(payload)));
  await app.close();
} else if (command === 'consume') {
  const [transport, queue, count, ...events] = args;
  const app = createThrun({
    transport: await transportOf(transport),
    queue,
    logger: silentLogger,
    unknownEvents: 'leave',
  });
  const done = collect(app, events, Number(count));
  await app.start();
  await done;
  await app.close({ drainTimeoutMs: 1_000 });
} else if (command === 'batch') {
  const [queue, jobs] = args;
  const store = await batchStore();
  const app = createThrun({
    transport: await transportOf('redis-lists'),
    queue,
    logger: silentLogger,
    batches: { store },
  });
  const id = await app
    .batch(JSON.parse(jobs))
    .then('order.success')
    .catch('order.failed')
    .finally('order.finished')
    .progress('order.progress')
    .dispatch();
  console.log(id);
  await app.close();
  await store.close();
} else if (command === 'engine') {
  const [queue, count, ...events] = args;
  const store = await batchStore();
  const app = createThrun({
    transport: await transportOf('redis-lists'),
    queue,
    routes: JSON.parse(process.env.THRUN_PEER_ROUTES ?? '{}'),
    logger: silentLogger,
    batches: { store, acceptReports: true },
  });
  const done = collect(app, events, Number(count));
  await app.start();
  await done;
  await app.close({ drainTimeoutMs: 1_000 });
  await store.close();
} else if (command === 'dead') {
  const [queue] = args;
  const { decodeDeadLetter } = await load('contract');
  const { Redis } = await import(
    new URL('transport-redis/node_modules/ioredis/built/index.js', packages).href
  );
  const redis = new Redis(process.env.THRUN_REDIS_URL);
  for (const body of await redis.lrangeBuffer(`${queue}.dead`, 0, -1)) {
    const { originalBody, ...letter } = decodeDeadLetter({ body });
    console.log(JSON.stringify({ ...letter, original: Buffer.from(originalBody).toString('utf8') }));
  }
  redis.disconnect();
} else if (command === 'shas') {
  const { luaScripts } = await import(new URL('transport-redis/dist/generated/scripts.js', packages).href);
  for (const [name, script] of Object.entries(luaScripts)) {
    console.log(`${name} ${createHash('sha1').update(script.source).digest('hex')}`);
  }
} else {
  console.error(`ts-peer: unknown command ${command}`);
  process.exit(2);
}
clearTimeout(timeout);
