// A worker process for the kill-ledger run: handles each event (a short pause standing for the work),
// appends its id to its own ledger file synchronously (so a SIGKILL loses no recorded line), then
// acks. Exits after `close()` on SIGTERM.
import { appendFileSync } from 'node:fs';
import { kafkaTransport } from '../../dist/index.js';

const [queue, group, brokers, sessionTimeoutMs, ledgerFile, handlerMs, concurrency] = process.argv.slice(2);
const transport = kafkaTransport({ brokers, sessionTimeoutMs: Number(sessionTimeoutMs) });
process.on('SIGTERM', () => {
  transport.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
await transport.consume(
  queue,
  async (delivery) => {
    await new Promise((resolve) => setTimeout(resolve, Number(handlerMs)));
    appendFileSync(ledgerFile, `${new TextDecoder().decode(delivery.body)}\n`);
    await delivery.ack();
  },
  { group, concurrency: Number(concurrency) },
);
process.stdout.write('subscribed\n');
