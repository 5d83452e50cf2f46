/**
 * Brokers a suite starts for itself: the one its environment variable names, or else one started through
 * the repository's script (scripts/brokers/…), which honours the script's own environment (ports, state
 * directory) and is stopped again by `stop()`. A broker the script reports already running was started
 * by someone else: it is used and left running.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const scripts = new URL('../../../scripts/brokers/', import.meta.url);

export interface Broker {
  /** The value of the variable the script exports (a URL, or a comma-separated list of them). */
  address: string;
  /** Whether this run started the broker (and `stop` ends it). */
  started: boolean;
  stop(): Promise<void>;
}

/**
 * `script` is relative to scripts/brokers/ (`redis.sh`, `cluster/rabbitmq-cluster.sh`); `variable` is the
 * one its `start` prints as `export <variable>=…` and the one read first from the environment.
 */
export async function useBroker(script: string, variable: string): Promise<Broker> {
  const given = process.env[variable];
  if (given) return { address: given, started: false, stop: async () => {} };
  const path = fileURLToPath(new URL(script, scripts));
  const call = (command: string) =>
    run('bash', [path, command], { env: process.env, maxBuffer: 16 * 1024 * 1024 });
  const running = await call('status').then(
    () => true,
    () => false,
  );
  console.error(`[bench] ${running ? 'using the running' : 'starting'} ${script}`);
  const { stdout } = await call('start');
  const address = new RegExp(`^export ${variable}=(.*)$`, 'm').exec(stdout)?.[1];
  if (!address) throw new Error(`${script} start printed no ${variable}`);
  return {
    address,
    started: !running,
    stop: async () => {
      if (!running) await call('stop');
    },
  };
}
