// A worker process for the SIGKILL test: consumes THRUN_TEST_QUEUE, reports each delivery on stdout
// and never settles it, so the only way the message leaves is the process dying.
import { rabbitmqTransport } from '../dist/index.js';

const transport = rabbitmqTransport({ url: process.env.THRUN_AMQP_URL });
await transport.consume(process.env.THRUN_TEST_QUEUE, (delivery) => {
  process.stdout.write(`delivered ${delivery.attempt}\n`);
  return new Promise(() => {});
});
process.stdout.write('subscribed\n');
