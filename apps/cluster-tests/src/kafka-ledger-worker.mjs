// A worker process of the Kafka cluster ledger run: the Kafka transport given the three brokers. Each
// event is recorded (its id appended synchronously to this worker's ledger file), then acked; an id
// ending in "poison" is dead-lettered instead. Exits after close() on SIGTERM. Argv: one JSON object
// (brokers, queue, ledger, handlerMs, sessionTimeoutMs).
import { appendFileSync } from 'node:fs';
import { kafkaTransport } from '@thrun/transport-kafka';

const config = JSON.parse(process.argv[2]);
const transport = kafkaTransport({
  brokers: config.brokers,
  replicationFactor: 3,
  sessionTimeoutMs: config.sessionTimeoutMs,
});
process.on('SIGTERM', () => {
  transport.close({ drainTimeoutMs: 5_000 }).then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
await transport.consume(
  config.queue,
  async (delivery) => {
    const id = new TextDecoder().decode(delivery.body);
    await new Promise((resolve) => setTimeout(resolve, config.handlerMs));
    if (id.endsWith('poison')) {
      await delivery.deadLetter({ code: 'poison', message: 'refused by the ledger worker' });
      return;
    }
    appendFileSync(config.ledger, `${id}\n`);
    await delivery.ack();
  },
  { concurrency: 8 },
);
process.stdout.write('subscribed\n');
