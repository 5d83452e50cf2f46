// A worker process for the crash test: joins the group, announces each delivery on stdout and never
// settles it, so the test can kill it with SIGKILL mid-job.
import { kafkaTransport } from '../../dist/index.js';

const [queue, group, brokers, sessionTimeoutMs] = process.argv.slice(2);
const transport = kafkaTransport({ brokers, sessionTimeoutMs: Number(sessionTimeoutMs) });
await transport.consume(
  queue,
  (delivery) => {
    process.stdout.write(`started ${new TextDecoder().decode(delivery.body)}\n`);
    return new Promise(() => {}); // the job never ends
  },
  { group },
);
process.stdout.write('subscribed\n');
