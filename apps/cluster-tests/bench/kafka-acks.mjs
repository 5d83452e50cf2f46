// The cost of `acks: -1` against `acks: 1` on the three-broker cluster (replication factor 3,
// min.insync.replicas=2): plain kafkajs producers send the same records to one topic, in rounds that
// alternate the settings (so a shared machine's noise falls on both), as sequential batches of 20
// records (a publish of a few dispatches: latency) and of 500 (throughput). Prints each setting's
// median and p99 batch latency, records per second, and the ratio to `acks: 1`.
//
//   eval "$(bash scripts/brokers/cluster/kafka-cluster.sh start)"
//   node apps/cluster-tests/bench/kafka-acks.mjs            # THRUN_KAFKA_ACKS_BENCH_RECORDS (4,000 a round)
import { Kafka, logLevel } from 'kafkajs';

const brokers = (process.env.THRUN_KAFKA_CLUSTER_BROKERS ?? '').split(',').filter(Boolean);
if (brokers.length !== 3) throw new Error('THRUN_KAFKA_CLUSTER_BROKERS must list the three brokers');
const records = Number(process.env.THRUN_KAFKA_ACKS_BENCH_RECORDS ?? 4_000);
const rounds = 3;
const body = Buffer.alloc(100, 0x61);

const kafka = new Kafka({ clientId: 'thrun-acks-bench', brokers, logLevel: logLevel.NOTHING });
const topic = `acks-bench-${Date.now()}`;
const admin = kafka.admin();
await admin.connect();
await admin.createTopics({
  topics: [{ topic, numPartitions: 3, replicationFactor: 3 }],
  waitForLeaders: true,
});

// `acks: -1, idempotent` is what the transport's producer does; `idempotent` needs `acks: -1`.
const settings = [
  { name: 'acks 1', acks: 1, idempotent: false },
  { name: 'acks -1', acks: -1, idempotent: false },
  { name: 'acks -1, idempotent (Thrun)', acks: -1, idempotent: true },
];
for (const setting of settings) {
  setting.producer = kafka.producer({
    idempotent: setting.idempotent,
    maxInFlightRequests: setting.idempotent ? 1 : 5,
  });
  await setting.producer.connect();
  setting.latencies = { 20: [], 500: [] };
  setting.elapsed = { 20: 0, 500: 0 };
}

async function run(setting, batch) {
  const started = performance.now();
  for (let sent = 0; sent < records; sent += batch) {
    const at = performance.now();
    await setting.producer.send({
      topic,
      acks: setting.acks,
      messages: Array.from({ length: batch }, () => ({ value: body })),
    });
    setting.latencies[batch].push(performance.now() - at);
  }
  setting.elapsed[batch] += performance.now() - started;
}

for (let round = 0; round < rounds; round += 1) {
  for (const batch of [20, 500]) for (const setting of settings) await run(setting, batch);
}

const quantile = (values, q) => [...values].sort((a, b) => a - b)[Math.floor(q * (values.length - 1))];
const base = settings[0];
for (const batch of [20, 500]) {
  console.log(`batches of ${batch} (${rounds} × ${records} records a setting):`);
  for (const setting of settings) {
    const rate = (rounds * records) / (setting.elapsed[batch] / 1_000);
    const ratio = setting.elapsed[batch] / base.elapsed[batch];
    console.log(
      `  ${setting.name.padEnd(28)} median ${quantile(setting.latencies[batch], 0.5).toFixed(1)} ms, p99 ${quantile(setting.latencies[batch], 0.99).toFixed(1)} ms, ${Math.round(rate)} records/s, ${ratio.toFixed(2)}× the time of acks 1`,
    );
  }
}
for (const setting of settings) await setting.producer.disconnect();
await admin.deleteTopics({ topics: [topic] }).catch(() => {});
await admin.disconnect();
