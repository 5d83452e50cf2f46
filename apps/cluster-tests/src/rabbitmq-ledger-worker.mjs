// A worker process of the RabbitMQ cluster ledger run (ledger-worker-loop.mjs): the RabbitMQ transport
// given the cluster's URLs (this worker's preferred node first). Argv: one JSON object (urls, queue,
// ledger, handlerMs).
import { rabbitmqTransport } from '@thrun/transport-rabbitmq';
import { runLedgerWorker } from './ledger-worker-loop.mjs';

const config = JSON.parse(process.argv[2]);
await runLedgerWorker(rabbitmqTransport({ urls: config.urls, connectTimeoutMs: 30_000 }), config);
