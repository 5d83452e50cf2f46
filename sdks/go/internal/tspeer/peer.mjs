// The TypeScript side of the Go module's cross-runtime tests, on the built packages of this repository
// (run `bash scripts/pnpm.sh build` first). One JSON line per result on stdout.
//
//   node peer.mjs <transport> <command> <queue> [arguments]
//
// <transport> is redis (Lists), redis-streams, rabbitmq or kafka, at THRUN_REDIS_URL, THRUN_AMQP_URL or
// THRUN_KAFKA_BROKERS. Commands on the transport alone:
//   produce <queue> '<messages JSON>'
//     publishes [{ "body": "…", "key"?: "…", "delayMs"?: n }] and exits once the broker accepted them.
//   consume <queue> <deliveries>
//     consumes group `default`, prints {"ready":true} then one line per delivery ({ body, attempt, key,
//     headers }), retries every first attempt after 200 ms, dead-letters a second attempt whose body
//     holds `"dead":true`, acks the rest, and exits after <deliveries> deliveries.
//   dead <queue> <count>
//     prints up to <count> dead letters of <queue>, oldest first, as TypeScript decodes them
//     ({ queue, error, attempts, failed_at, form, originalBody }).
// Commands on a Thrun instance (createThrun) over the transport:
//   dispatch <queue> <event> '<payload JSON>' <count>
//     dispatches the event <count> times with source `node`, printing { event_id } for each.
//   handle <queue> <event> <count> <failing attempts>
//     prints {"ready":true}, then { payload, meta, attempt } for each handled event; attempts up to
//     <failing attempts> throw (retried after 10–50 ms, at most 5 attempts); exits after <count>.
//   batch <queue> <steps queue> <step events, comma-separated>
//     a coordinator: creates a batch of the steps (routed to <steps queue>, which only the worker
//     under test consumes) with then/catch/finally/progress events, accepts the step reports, prints
//     { batch_id } and then { event, payload, event_id } for every lifecycle event it sees.
const packages = new URL('../../../../packages/', import.meta.url);
const load = (name) => import(new URL(`${name}/dist/index.js`, packages).href);
const [kind, command, queue, ...rest] = process.argv.slice(2);
const print = (line) => process.stdout.write(`${JSON.stringify(line)}\n`);
const decoder = new TextDecoder();
const redisUrl = process.env.THRUN_REDIS_URL ?? 'redis://127.0.0.1:6390';

async function open() {
  if (kind === 'redis' || kind === 'redis-streams') {
    const { redisTransport } = await load('transport-redis');
    return redisTransport({ url: redisUrl, mode: kind === 'redis' ? 'list' : 'stream' });
  }
  if (kind === 'rabbitmq') {
    const { rabbitmqTransport } = await load('transport-rabbitmq');
    return rabbitmqTransport({ url: process.env.THRUN_AMQP_URL });
  }
  if (kind === 'kafka') {
    const { kafkaTransport } = await load('transport-kafka');
    return kafkaTransport({ brokers: process.env.THRUN_KAFKA_BROKERS ?? '127.0.0.1:9092' });
  }
  throw new Error(`unknown transport ${kind}`);
}

// The waiting dead letters of a queue, oldest first. Redis's are read from the keys directly: its
// `peek` looks through a consumer group, which a dead-letter stream does not have.
async function deadLetters(transport, count) {
  if (kind === 'redis' || kind === 'redis-streams') {
    const { Redis } = await import(
      new URL('transport-redis/node_modules/ioredis/built/index.js', packages).href
    );
    const redis = new Redis(redisUrl);
    const bodies =
      kind === 'redis-streams'
        ? (await redis.xrangeBuffer(`${queue}.dead`, '-', '+', 'COUNT', count)).map(([, fields]) => fields[1])
        : (await redis.lrangeBuffer(`${queue}.dead`, -count, -1)).reverse();
    redis.disconnect();
    return bodies.map((body) => ({ body: new Uint8Array(body) }));
  }
  let letters = [];
  for (let tries = 0; letters.length < count && tries < 50; tries += 1) {
    letters = await transport.peek(`${queue}.dead`, count);
    if (letters.length < count) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return letters;
}

/** A promise and the function that resolves it. */
function signal() {
  let resolve;
  const promise = new Promise((r) => {
    resolve = r;
  });
  return [promise, resolve];
}

async function thrunOver(transport, options) {
  const { createThrun, silentLogger } = await load('core');
  return createThrun({ transport, queue, logger: silentLogger, ...options });
}

const transport = await open();

if (command === 'produce') {
  const encoder = new TextEncoder();
  const messages = JSON.parse(rest[0]).map((m) => ({ ...m, body: encoder.encode(m.body) }));
  await transport.publish(queue, messages);
  await transport.close();
} else if (command === 'consume') {
  const wanted = Number(rest[0]);
  let seen = 0;
  const [finished, finish] = signal();
  await transport.consume(
    queue,
    async (delivery) => {
      const body = decoder.decode(delivery.body);
      const line = {
        body,
        attempt: delivery.attempt,
        key: delivery.key ?? '',
        headers: delivery.headers ?? {},
      };
      if (delivery.attempt === 1) await delivery.retry(200);
      else if (body.includes('"dead":true')) {
        await delivery.deadLetter({ code: 'ts_dead', message: 'dead-lettered by TypeScript' });
      } else await delivery.ack();
      print(line);
      seen += 1;
      if (seen >= wanted) finish();
    },
    { group: 'default' },
  );
  print({ ready: true });
  await finished;
  await transport.close();
} else if (command === 'dead') {
  const { decodeDeadLetter } = await load('contract');
  for (const letter of await deadLetters(transport, Number(rest[0]))) {
    const decoded = decodeDeadLetter(letter);
    print({ ...decoded, originalBody: decoder.decode(decoded.originalBody) });
  }
  await transport.close();
} else if (command === 'dispatch') {
  const [event, payload, count] = rest;
  const thrun = await thrunOver(transport, { source: 'node' });
  for (let i = 0; i < Number(count); i++) print({ event_id: await thrun.event(event, JSON.parse(payload)) });
  await thrun.close();
} else if (command === 'handle') {
  const [event, count, failing] = rest;
  const thrun = await thrunOver(transport, { retry: { maxAttempts: 5, backoffMs: 10, maxBackoffMs: 50 } });
  let handled = 0;
  const [finished, finish] = signal();
  thrun.subscribe(event, async (payload, ctx) => {
    if (ctx.attempt <= Number(failing)) throw new Error(`failing attempt ${ctx.attempt}`);
    print({ payload, meta: ctx.envelope.meta, attempt: ctx.attempt });
    if (++handled === Number(count)) setImmediate(finish);
  });
  await thrun.start();
  print({ ready: true });
  await finished;
  await thrun.stop();
} else if (command === 'batch') {
  const [stepsQueue, steps] = rest;
  const thrun = await thrunOver(transport, {
    routes: { 'step.*': stepsQueue },
    batches: { acceptReports: true },
  });
  const [finished, finish] = signal();
  for (const event of ['order.success', 'order.failed', 'order.finished', 'order.progress']) {
    thrun.subscribe(event, (payload, ctx) => {
      print({ event, payload, event_id: ctx.envelope.meta.event_id });
      // A second ending would arrive within this grace period; the test counts them.
      if (event === 'order.finished') setTimeout(finish, 1500);
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
  await finished;
  await thrun.stop();
} else {
  throw new Error(`unknown command ${command}`);
}
process.exit(0);
