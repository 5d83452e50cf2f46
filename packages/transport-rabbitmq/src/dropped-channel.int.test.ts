/**
 * Telling a channel the broker dropped from a refusal, with the errors a real broker gives: a consumer
 * subscribes again after the first, and fails at once on the second (see `Consumer.start`).
 */
import { connect } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDroppedChannel } from './errors.js';
import { amqpUrl, ctl, rawConnection, uniqueQueue } from './test-helpers.js';

const queue = uniqueQueue('dropped-channel');
let admin: Awaited<ReturnType<typeof rawConnection>>;

beforeAll(async () => {
  admin = await rawConnection();
  const channel = await admin.createChannel();
  await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'classic' } });
  await channel.close();
});
afterAll(async () => {
  const channel = await admin.createChannel();
  await channel.deleteQueue(queue);
  await admin.close();
});

/** The rejection of `operation`, which must reject. */
async function rejection(operation: () => Promise<unknown>): Promise<unknown> {
  return operation().then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

describe('a channel the broker drops', () => {
  it('is told apart from what the broker refuses', async () => {
    // Refused: the queue exists with other arguments (406 PRECONDITION_FAILED).
    const refusing = await admin.createChannel();
    refusing.on('error', () => {});
    const refused = await rejection(() =>
      refusing.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } }),
    );
    expect((refused as { code?: number }).code).toBe(406);
    expect(isDroppedChannel(refused)).toBe(false);

    // Dropped: the broker closes the connection under an open channel (320 CONNECTION_FORCED).
    const name = `thrun-test-${queue}`;
    const doomed = await connect(amqpUrl, { clientProperties: { connection_name: name } });
    doomed.on('error', () => {});
    const channel = await doomed.createChannel();
    channel.on('error', () => {});
    const closed = new Promise((resolve) => doomed.once('close', resolve));
    const { stdout } = await ctl(
      'list_connections',
      '--no-table-headers',
      '--silent',
      'pid',
      'client_properties',
    );
    const pid = stdout
      .split('\n')
      .find((line) => line.includes(name))
      ?.split('\t')[0];
    expect(pid).toBeDefined();
    await ctl('close_connection', pid!, 'dropped by the test');
    await closed;
    const dropped = await rejection(() => channel.checkQueue(queue));
    expect(isDroppedChannel(dropped)).toBe(true);
  });
});
