// A worker process of the RabbitMQ cluster ledger run: the RabbitMQ transport given the cluster's URLs
// (this worker's preferred node first). Each event is recorded (its id appended synchronously to this
// worker's ledger file), then acked; an id ending in "poison" is dead-lettered instead. Exits after
// close() on SIGTERM. Argv: one JSON object (urls, queue, ledger, handlerMs).
import { appendFileSync } from 'node:fs';
import { rabbitmqTransport } from '@thrun/transport-rabbitmq';

const config = JSON.parse(process.argv[2]);
const transport = rabbitmqTransport({ urls: config.urls, connectTimeoutMs: 30_000 });
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
  // The default group: its queue is the one the producer's publish declares.
  { concurrency: 8 },
);
process.stdout.write('subscribed\n');
