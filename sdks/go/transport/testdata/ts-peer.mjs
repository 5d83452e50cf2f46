// The TypeScript side of the Go transports' cross-runtime tests, on the built TypeScript transports
// (run `bash scripts/pnpm.sh build` first).
//
//   node ts-peer.mjs <rabbitmq|kafka> produce <queue> '<messages JSON>'
//     publishes [{ "body": "…", "key"?: "…", "delayMs"?: n }] and exits once the broker accepted them.
//   node ts-peer.mjs <rabbitmq|kafka> consume <queue> <deliveries>
//     consumes group `default`, prints one JSON line per delivery ({ body, attempt, key, headers }),
//     retries every first attempt after 200 ms, dead-letters a second attempt whose body holds
//     `"dead":true`, acks the rest, and exits after <deliveries> deliveries.
//   node ts-peer.mjs <rabbitmq|kafka> dead <queue> <count>
//     peeks at up to <count> dead letters of <queue> and prints each as TypeScript decodes it
//     ({ queue, error, attempts, failed_at, form, originalBody }).
//
// Brokers: THRUN_AMQP_URL, THRUN_KAFKA_BROKERS.
const root = new URL('../../../../', import.meta.url);
const [kind, mode, queue, argument] = process.argv.slice(2);

async function open() {
  if (kind === 'rabbitmq') {
    const { rabbitmqTransport } = await import(new URL('packages/transport-rabbitmq/dist/index.js', root));
    return rabbitmqTransport({ url: process.env.THRUN_AMQP_URL });
  }
  if (kind === 'kafka') {
    const { kafkaTransport } = await import(new URL('packages/transport-kafka/dist/index.js', root));
    return kafkaTransport({ brokers: process.env.THRUN_KAFKA_BROKERS ?? '127.0.0.1:9092' });
  }
  throw new Error(`unknown transport ${kind}`);
}

const transport = await open();
const encoder = new TextEncoder();
const decoder = new TextDecoder();

if (mode === 'produce') {
  const messages = JSON.parse(argument).map((m) => ({ ...m, body: encoder.encode(m.body) }));
  await transport.publish(queue, messages);
  await transport.close();
} else if (mode === 'consume') {
  const wanted = Number(argument);
  let seen = 0;
  let finish;
  const finished = new Promise((resolve) => {
    finish = resolve;
  });
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
      process.stdout.write(`${JSON.stringify(line)}\n`);
      seen += 1;
      if (seen >= wanted) finish();
    },
    { group: 'default' },
  );
  process.stdout.write('{"ready":true}\n');
  await finished;
  await transport.close();
} else if (mode === 'dead') {
  const { decodeDeadLetter } = await import(new URL('packages/contract/dist/index.js', root));
  const wanted = Number(argument);
  let letters = [];
  for (let tries = 0; letters.length < wanted && tries < 50; tries += 1) {
    letters = await transport.peek(`${queue}.dead`, wanted);
    if (letters.length < wanted) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  for (const letter of letters) {
    const decoded = decodeDeadLetter(letter);
    process.stdout.write(
      `${JSON.stringify({ ...decoded, originalBody: decoder.decode(decoded.originalBody) })}\n`,
    );
  }
  await transport.close();
} else {
  throw new Error(`unknown mode ${mode}`);
}
