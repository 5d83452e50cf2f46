// Run by signals.test.ts as a separate process: a worker with handleSignals and one slow job.
import { createThrun } from '../../dist/index.js';

const thrun = createThrun({
  handleSignals: true,
  drainTimeoutMs: 5_000,
  hooks: { onHandled: () => console.log('acknowledged') },
});
thrun.subscribe('slow_job', async () => {
  console.log('started');
  await new Promise((resolve) => setTimeout(resolve, 300));
  console.log('finished');
});
await thrun.start();
await thrun.event('slow_job', {});
setInterval(() => {}, 1_000); // keeps the process alive until the signal
