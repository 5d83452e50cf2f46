// A worker process of the Kafka cluster ledger run (ledger-worker-loop.mjs): the Kafka transport given
// the three brokers. Argv: one JSON object (brokers, queue, ledger, handlerMs, sessionTimeoutMs).
import { kafkaTransport } from '@thrun/transport-kafka';
import { runLedgerWorker } from './ledger-worker-loop.mjs';

const config = JSON.parse(process.argv[2]);
const transport = kafkaTransport({
  brokers: config.brokers,
  replicationFactor: 3,
  sessionTimeoutMs: config.sessionTimeoutMs,
});
await runLedgerWorker(transport, config);
