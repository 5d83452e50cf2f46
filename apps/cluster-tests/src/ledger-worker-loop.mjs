// What every ledger worker process does with its transport (src/ledger.ts reads the result): each event
// is recorded (its id appended synchronously to the worker's ledger file, so a kill loses no recorded
// line), then acked; an id ending in "poison" is dead-lettered instead. On SIGTERM it closes the
// transport, runs `afterClose`, and exits. Prints "subscribed" once consuming.
import { appendFileSync } from 'node:fs';

export async function runLedgerWorker(transport, config, { group, afterClose = () => {} } = {}) {
  process.on('SIGTERM', () => {
    transport.close({ drainTimeoutMs: 5_000 }).then(
      () => {
        afterClose();
        process.exit(0);
      },
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
    // Without a group, the default one: its queue is the one the producer's publish declares.
    { concurrency: 8, ...(group === undefined ? {} : { group }) },
  );
  process.stdout.write('subscribed\n');
}
