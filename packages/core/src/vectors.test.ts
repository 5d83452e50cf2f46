import { decodeDeadLetter, type Envelope, validateDeadLetterRecord } from '@thrun/contract';
import { loadCodecVectors } from '@thrun/contract/vectors';
import { memoryTransport } from '@thrun/transport-memory';
import { expect, it } from 'vitest';
import { silentLogger } from './logger.js';
import { waitFor } from './test-fixtures/helpers.js';
import { createThrun } from './thrun.js';

it('dead-letters every bad codec vector with its reason while good messages keep flowing', async () => {
  const vectors = loadCodecVectors();
  const bad = vectors.filter((v) => 'error' in v.expect);
  const good = vectors.filter((v) => 'envelope' in v.expect);
  expect(bad.length).toBeGreaterThan(10);
  expect(good.length).toBeGreaterThan(3);

  // The codec's defaults (1 MiB, depth 64) are the limits the vectors are written for.
  const transport = memoryTransport();
  const thrun = createThrun({ transport, logger: silentLogger, concurrency: 1 });
  const handled: Envelope[] = [];
  const markers: number[] = [];
  thrun.subscribe('#', (payload, ctx) => {
    if (ctx.name === 'vector_marker') markers.push(payload.n as number);
    else handled.push(ctx.envelope);
  });
  await thrun.start();
  // A good message after every vector: the queue must keep flowing past each bad one.
  for (const [n, vector] of vectors.entries()) {
    await transport.publish('events', [{ body: vector.bytes }]);
    await thrun.event('vector_marker', { n });
  }
  await waitFor(() => markers.length === vectors.length, 'every marker', 60_000);
  await waitFor(
    async () => (await transport.peek!('events.dead', 10_000)).length === bad.length,
    'every bad vector dead-lettered',
    60_000,
  );
  expect(markers).toEqual([...vectors.keys()]);

  const dead = await transport.peek!('events.dead', 10_000);
  dead.forEach((message, i) => {
    const vector = bad[i]!;
    // Every record validates against schemas/dead-letter.schema.json.
    const record = decodeDeadLetter(message);
    const { originalBody: _body, form: _form, ...description } = record;
    expect(() => validateDeadLetterRecord(description)).not.toThrow();
    expect(record.error.code, vector.name).toBe((vector.expect as { error: string }).error);
    expect(record.attempts, vector.name).toBe(1);
    expect(Buffer.compare(Buffer.from(record.originalBody), Buffer.from(vector.bytes)), vector.name).toBe(0);
  });
  expect(handled.map((e) => ({ ...e }))).toEqual(
    good.map((v) => (v.expect as { envelope: unknown }).envelope),
  );
  expect(thrun.stats().totals.rejected).toBe(bad.length);
  await thrun.close();
});
