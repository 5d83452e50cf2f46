// A worker process for the reliability tests: consumes a queue and prints one JSON line per delivery.
// With THRUN_TEST_HANG=1 it never settles, so the test can SIGKILL it mid-job.
import { redisTransport } from '../../dist/index.js';

const [url, keyPrefix, queue, visibilityTimeoutMs] = process.argv.slice(2);
const transport = redisTransport({
  url,
  keyPrefix,
  visibilityTimeoutMs: Number(visibilityTimeoutMs),
  prefetch: 1,
});
await transport.consume(queue, async (delivery) => {
  const line = {
    pid: process.pid,
    body: Buffer.from(delivery.body).toString('utf8'),
    attempt: delivery.attempt,
  };
  process.stdout.write(`${JSON.stringify(line)}\n`);
  if (process.env.THRUN_TEST_HANG === '1') await new Promise(() => {});
  await delivery.ack();
});
process.stdout.write('ready\n');
