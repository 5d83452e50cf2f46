import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';

/** The broker the integration tests use: `THRUN_KAFKA_BROKERS`, else the repository script's port. */
export const brokers = (process.env.THRUN_KAFKA_BROKERS ?? '127.0.0.1:9192').split(',');

/** Fails (never skips) when nothing listens, saying how to start the broker. */
export async function assertBrokerReachable(): Promise<void> {
  const [host = '127.0.0.1', port = '9192'] = brokers[0]!.split(':');
  const reachable = await new Promise<boolean>((resolve) => {
    const socket = connect({ host, port: Number(port) });
    socket.setTimeout(2_000);
    socket.on('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
    socket.on('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
  if (!reachable) {
    throw new Error(
      `No Kafka broker at ${brokers.join(',')}. Start one with: eval "$(bash scripts/brokers/kafka.sh start)"`,
    );
  }
}

const script = fileURLToPath(new URL('../../../../scripts/brokers/kafka.sh', import.meta.url));

/**
 * Runs `scripts/brokers/kafka.sh <command>` with this process's environment (so it acts on the broker
 * of THRUN_STATE_DIR and THRUN_KAFKA_PORT) and resolves with its exit code. A busy machine can take
 * longer than the script's default 90 s to start the broker's JVM: a restart here waits up to 240 s
 * unless THRUN_KAFKA_READY_TIMEOUT_S says otherwise.
 */
export function brokerScript(command: 'restart' | 'status'): Promise<number> {
  return new Promise((resolve, reject) => {
    const env = { THRUN_KAFKA_READY_TIMEOUT_S: '240', ...process.env };
    const child = spawn('bash', [script, command], { stdio: ['ignore', 'ignore', 'inherit'], env });
    child.on('error', reject);
    child.on('exit', (code) => resolve(code ?? 1));
  });
}

/** A queue name no other test (or earlier run) uses. */
export function uniqueQueue(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

export function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const check = () => {
      if (condition()) resolve();
      else if (Date.now() > deadline)
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      else setTimeout(check, 20);
    };
    check();
  });
}

/**
 * Waits until `condition` holds, for as long as `progress` (a count that grows as work gets done)
 * keeps growing: fails only once it stood still for `stallMs`. For waits whose length follows the
 * machine's load (a broker restarted on a busy machine), where a fixed deadline would fail a slow run.
 */
export function waitWhileProgressing(
  condition: () => boolean,
  progress: () => number,
  stallMs: number,
  what: string,
): Promise<void> {
  let last = progress();
  let lastChange = Date.now();
  return new Promise((resolve, reject) => {
    const check = () => {
      if (condition()) return resolve();
      const now = progress();
      if (now !== last) {
        last = now;
        lastChange = Date.now();
      } else if (Date.now() - lastChange > stallMs) {
        return reject(new Error(`no progress for ${stallMs} ms while waiting for ${what}`));
      }
      setTimeout(check, 20);
    };
    check();
  });
}

export const text = (value: string): Uint8Array => new TextEncoder().encode(value);
export const decode = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);
