/**
 * The three-node RabbitMQ cluster of scripts/brokers/cluster/rabbitmq-cluster.sh as the tests see it:
 * its AMQP URLs (THRUN_AMQP_CLUSTER_URLS, in the script's order) and SIGKILL / revive of a node.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const script = fileURLToPath(
  new URL('../../../scripts/brokers/cluster/rabbitmq-cluster.sh', import.meta.url),
);

export const amqpUrls = (process.env.THRUN_AMQP_CLUSTER_URLS ?? '').split(',').filter(Boolean);

export function requireCluster(): void {
  if (amqpUrls.length !== 3) {
    throw new Error(
      'THRUN_AMQP_CLUSTER_URLS must list the three nodes of the cluster; run through scripts/test-cluster.sh',
    );
  }
}

/** The URLs starting with node `n` (1-3): the node a client connects to first. */
export const urlsFrom = (n: number) => [...amqpUrls.slice(n - 1), ...amqpUrls.slice(0, n - 1)];

export const killRabbitNode = async (n: number) => {
  await run('bash', [script, 'kill', String(n)], { env: process.env });
};

/** Starts node `n` again; resolves once all three nodes run. */
export const reviveRabbitNode = async (n: number) => {
  await run('bash', [script, 'revive', String(n)], { env: process.env });
};
