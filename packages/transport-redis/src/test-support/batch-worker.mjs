// A Thrun worker process for the batch crash tests: @thrun/core with the Redis transport and the Redis
// batch store. It prints one JSON line per step run (start and end) and per lifecycle event it handles.
//
// Crash injection (argv config `crash`): the process SIGKILLs itself, once, at one point of the
// transition that decides an emission of `kind`:
//   before-record  when the worker is about to record the step at `index`
//   after-record   when the store returned a transition that decided `kind`, before anything is published
//   after-publish  when the transport accepted a publish holding `kind`, before markEmitted and the ack
// `dropPublish: kind` instead swallows, once, a publish holding `kind` (the control that must fail).
import { createThrun, permanent, silentLogger } from '@thrun/core';
import { redisBatchStore, redisTransport } from '../../dist/index.js';

const config = JSON.parse(process.argv[2]);
const print = (line) =>
  process.stdout.write(`${JSON.stringify({ pid: process.pid, t: Date.now(), ...line })}\n`);
const LIFECYCLE = {
  'crash.progress': 'progress',
  'crash.then': 'then',
  'crash.catch': 'catch',
  'crash.finally': 'finally',
};
const kindOfEvent = (event, meta) => (meta?.batch ? 'step' : LIFECYCLE[event]);

let crashed = false;
function crash(point, detail) {
  if (crashed) return;
  crashed = true;
  print({ type: 'crash', point, ...detail });
  process.kill(process.pid, 'SIGKILL');
}

const store = redisBatchStore({
  url: config.url,
  keyPrefix: config.keyPrefix,
  claimTtlMs: config.claimTtlMs,
  sweepLockMs: 50,
});
const crashAt = config.crash;
const recordStep = store.recordStep.bind(store);
store.recordStep = async (id, index, outcome) => {
  if (crashAt?.point === 'before-record' && crashAt.index === index) crash('before-record', { id, index });
  const transition = await recordStep(id, index, outcome);
  if (
    crashAt?.point === 'after-record' &&
    transition.applied &&
    transition.emissions.some((e) => e.kind === crashAt.kind)
  ) {
    crash('after-record', { id, index, keys: transition.emissions.map((e) => e.key) });
    await new Promise(() => {});
  }
  return transition;
};

const transport = redisTransport({
  url: config.url,
  keyPrefix: config.keyPrefix,
  visibilityTimeoutMs: config.visibilityTimeoutMs,
});
const publish = transport.publish.bind(transport);
let dropped = false;
transport.publish = async (queue, messages, options) => {
  const kinds = messages.map((m) => {
    const envelope = JSON.parse(Buffer.from(m.body).toString('utf8'));
    return kindOfEvent(envelope.event, envelope.meta);
  });
  if (config.dropPublish && !dropped && kinds.includes(config.dropPublish)) {
    dropped = true;
    print({ type: 'dropped', kinds });
    return;
  }
  const result = await publish(queue, messages, options);
  if (crashAt?.point === 'after-publish' && kinds.includes(crashAt.kind)) {
    crash('after-publish', { kinds });
    await new Promise(() => {});
  }
  return result;
};

const thrun = createThrun({
  transport,
  source: 'crash-test',
  logger: silentLogger,
  queue: config.queue,
  concurrency: config.concurrency,
  retry: { maxAttempts: 5, backoffMs: 50, maxBackoffMs: 200 },
  batches: { store, sweepIntervalMs: config.sweepIntervalMs, stepLeaseMs: config.stepLeaseMs },
});

for (const event of ['crash_step', 'crash_fail']) {
  thrun.subscribe(event, async (payload, ctx) => {
    const { id, index } = ctx.envelope.meta.batch;
    print({ type: 'step-start', batch: id, index, attempt: ctx.attempt });
    await new Promise((resolve) => setTimeout(resolve, payload.ms ?? 20));
    print({ type: 'step-end', batch: id, index });
    if (event === 'crash_fail') throw permanent('this step always fails');
  });
}
for (const [event, kind] of Object.entries(LIFECYCLE)) {
  thrun.subscribe(event, (payload, ctx) => {
    const done = (payload.completed ?? 0) + (payload.failed ?? 0);
    print({ type: 'lifecycle', kind, batch: payload.batch_id, done, eventId: ctx.envelope.meta.event_id });
  });
}

await thrun.start();
print({ type: 'ready' });
process.on('SIGTERM', () => void thrun.close({ drainTimeoutMs: 2_000 }).then(() => process.exit(0)));
