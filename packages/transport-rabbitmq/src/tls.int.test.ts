import { readFileSync } from 'node:fs';
import { TransportError } from '@thrun/contract';
import { afterEach, describe, expect, it } from 'vitest';
import { rabbitmqTransport } from './rabbitmq-transport.js';
import { deleteTopology, rawConnection, text, uniqueQueue, utf8, waitFor } from './test-helpers.js';

// `scripts/brokers/rabbitmq.sh start` runs a TLS listener with a self-signed certificate and exports these.
const tlsUrl = process.env.THRUN_AMQPS_URL ?? 'amqps://guest:guest@127.0.0.1:5683';
const caFile = process.env.THRUN_AMQPS_CA ?? `${process.env.HOME}/.cache/thrun/state/rabbitmq/tls/cert.pem`;

function readCa(): Buffer {
  try {
    return readFileSync(caFile);
  } catch (cause) {
    throw new Error(
      `no TLS certificate at THRUN_AMQPS_CA (${caFile}): start the broker with\n  eval "$(bash scripts/brokers/rabbitmq.sh start)"`,
      { cause },
    );
  }
}

const closing: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closing.splice(0)) await close();
});

describe('rabbitmqTransport over TLS (amqps://)', () => {
  it('publishes and consumes when the broker certificate is trusted', async () => {
    const queue = uniqueQueue('tls');
    const t = rabbitmqTransport({ url: tlsUrl, socketOptions: { ca: [readCa()] } });
    closing.push(async () => {
      await t.close();
      const raw = await rawConnection();
      await deleteTopology(raw, queue);
      await raw.close();
    });
    const seen: string[] = [];
    await t.consume(queue, async (delivery) => {
      seen.push(text(delivery.body));
      await delivery.ack();
    });
    await t.publish(queue, [{ body: utf8.encode('over tls') }]);
    await waitFor(() => seen.length === 1, 10_000, 'the message over TLS');
    expect(seen).toEqual(['over tls']);
  });

  it('refuses an untrusted certificate with a typed error that hides the password', async () => {
    const t = rabbitmqTransport({
      url: tlsUrl.replace('guest:guest', 'guest:hidden-pw'),
      connectTimeoutMs: 1500,
    });
    closing.push(() => t.close());
    const error = await t.publish('tls-untrusted', [{ body: utf8.encode('x') }]).catch((e: unknown) => e);
    expect(TransportError.isInstance(error) && error.code).toBe('connection_failed');
    expect((error as Error).message).toMatch(/certificate/i);
    expect((error as Error).message).not.toContain('hidden-pw');
  });
});
