import { type DeadLetterMessage, decodeDeadLetter, type Transport } from '@thrun/contract';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../logger.js';
import { createThrun, type Thrun } from '../thrun.js';

/**
 * What a transport's test file gives `describePoisonMessages`: a transport on a real broker, and
 * plain-client views of the broker that do not go through the transport under test.
 */
export interface PoisonMessageFixture {
  /** Shown in the suite title, e.g. `redis (lists)`. */
  name: string;
  /** A new transport on the broker; the suite closes it. */
  transport(): Transport | Promise<Transport>;
  /** A queue name no other test uses. */
  queue(label: string): string;
  /** Publishes bytes to `queue` as a foreign producer would (a plain client, not the transport). */
  produce(queue: string, body: Uint8Array): Promise<void>;
  /**
   * How many messages `queue` has ever been given, consumed or not, as far as the broker can tell:
   * a topic's end offsets, or a list's or queue's depth. It must not grow while a message is refused.
   */
  sourceSize(queue: string): Promise<number>;
  /** Every message in `<queue>.dead`, read with a plain client: its bytes and, where it has them, headers. */
  readDead(queue: string): Promise<DeadLetterMessage[]>;
  /**
   * Makes the broker refuse every dead letter of `queue` (of `bytes` bytes) until the returned
   * function is called: a topic with a small `max.message.bytes`, a queue policy that rejects
   * publishes, a key of the wrong type.
   */
  refuseDeadLetters(queue: string, bytes: number): Promise<() => Promise<void>>;
  /** Longest wait for something that must happen. Default: 30,000 ms. */
  timeoutMs?: number;
}

const MAX_ATTEMPTS = 2;
const REFUSAL_MS = 2_500;

const utf8 = new TextEncoder();
const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
};

/** `{"event":"foreign_probe","payload":{"s":"` + `count` × `byte` + `"}}`: JSON only if `byte` may stand in a string. */
function probe(count: number, byte: number): Uint8Array {
  return concat(
    utf8.encode('{"event":"foreign_probe","payload":{"s":"'),
    new Uint8Array(count).fill(byte),
    utf8.encode('"}}'),
  );
}

async function waitFor(check: () => boolean | Promise<boolean>, what: string, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`[thrun:poison] timed out after ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/**
 * Poison messages against a real broker, through `createThrun`: bodies that a dead-letter record
 * would blow up (control bytes, binary), a large valid message whose handler always fails, and a dead
 * queue that refuses writes for a while. Each case checks that the handler ran at most `maxAttempts`
 * times, the source did not grow, the message ends in the dead queue exactly once with its original
 * bytes, and the worker stayed idle while the broker refused.
 */
export function describePoisonMessages(fixture: PoisonMessageFixture): void {
  const timeoutMs = fixture.timeoutMs ?? 30_000;
  const started: Thrun[] = [];

  afterEach(async () => {
    await Promise.all(started.splice(0).map((thrun) => thrun.close({ drainTimeoutMs: 1_000 })));
  });

  async function worker(queue: string) {
    const thrun = createThrun({
      transport: await fixture.transport(),
      queue,
      logger: silentLogger,
      retry: { maxAttempts: MAX_ATTEMPTS, backoffMs: 20, jitter: false },
    });
    started.push(thrun);
    const runs: number[] = [];
    thrun.subscribe('foreign_probe', (_payload, ctx) => {
      runs.push(ctx.attempt);
      throw new Error('[thrun:poison] this handler always fails');
    });
    await thrun.start();
    return { thrun, runs };
  }

  /** Waits for the one dead letter and checks it: original bytes, reason, exactly once. */
  async function expectOneDeadLetter(queue: string, original: Uint8Array, code: string) {
    await waitFor(
      async () => (await fixture.readDead(queue)).length > 0,
      `a dead letter in ${queue}.dead`,
      timeoutMs,
    );
    const dead = await fixture.readDead(queue);
    expect(dead).toHaveLength(1);
    const letter = decodeDeadLetter(dead[0]!);
    expect(letter.queue).toBe(queue);
    expect(letter.error.code).toBe(code);
    expect(letter.originalBody.byteLength).toBe(original.byteLength);
    expect(Buffer.compare(Buffer.from(letter.originalBody), Buffer.from(original))).toBe(0);
    // What the dead letter adds to the body stays small, whatever the body holds.
    const stored = dead[0]!.body.byteLength + JSON.stringify(dead[0]!.headers ?? {}).length;
    expect(stored - original.byteLength).toBeLessThan(2_048);
  }

  describe(`poison messages: ${fixture.name}`, { timeout: timeoutMs * 3 }, () => {
    it('204,844 bytes of a JSON string full of control bytes: one dead letter, unescaped, the handler untouched', async () => {
      const queue = fixture.queue('control');
      const body = probe(204_800, 0x01);
      expect(body.byteLength).toBe(204_844);
      const { thrun, runs } = await worker(queue);
      await fixture.produce(queue, body);
      await expectOneDeadLetter(queue, body, 'invalid_json');
      expect(runs).toEqual([]);
      expect(await fixture.sourceSize(queue)).toBeLessThanOrEqual(1);
      expect(thrun.stats().totals.rejected).toBe(1);
    });

    it('800 KB that are not UTF-8 (a protobuf or gzip body): one dead letter, unchanged', async () => {
      const queue = fixture.queue('binary');
      const body = new Uint8Array(800_000).map((_, index) => (index * 151 + 7) % 256);
      body[0] = 0xff;
      const { runs } = await worker(queue);
      await fixture.produce(queue, body);
      await expectOneDeadLetter(queue, body, 'invalid_utf8');
      expect(runs).toEqual([]);
      expect(await fixture.sourceSize(queue)).toBeLessThanOrEqual(1);
    });

    it('a valid 600 KB envelope whose handler throws runs maxAttempts times, then one dead letter', async () => {
      const queue = fixture.queue('large');
      const body = probe(600_000, 0x61);
      const { runs } = await worker(queue);
      await fixture.produce(queue, body);
      await expectOneDeadLetter(queue, body, 'max_attempts');
      expect(runs).toEqual([1, 2]);
      // Retried copies may sit in the source on a log (Kafka), one per attempt, never more.
      expect(await fixture.sourceSize(queue)).toBeLessThanOrEqual(MAX_ATTEMPTS);
    });

    it('a dead queue that refuses writes: the worker waits idle, copies nothing, and dead-letters once it accepts', async () => {
      const queue = fixture.queue('refused');
      const body = probe(20_000, 0x62);
      const accept = await fixture.refuseDeadLetters(queue, body.byteLength);
      const { thrun, runs } = await worker(queue);
      await fixture.produce(queue, body);
      await waitFor(() => thrun.stats().totals.settleFailures > 0, 'a refused dead letter', timeoutMs);
      const sizeAtRefusal = await fixture.sourceSize(queue);

      const cpuBefore = process.cpuUsage();
      const refusalsBefore = thrun.stats().totals.settleFailures;
      await new Promise((resolve) => setTimeout(resolve, REFUSAL_MS));
      const cpu = process.cpuUsage(cpuBefore);
      const refusals = thrun.stats().totals.settleFailures - refusalsBefore;
      // Idle, not looping: a few tries with a growing pause, and little CPU.
      expect(refusals).toBeLessThanOrEqual(6);
      expect((cpu.user + cpu.system) / 1_000).toBeLessThan(REFUSAL_MS * 0.5);
      expect(runs).toEqual([1, 2]);
      expect(await fixture.sourceSize(queue)).toBe(sizeAtRefusal);
      expect(await fixture.readDead(queue)).toEqual([]);

      await accept();
      await expectOneDeadLetter(queue, body, 'max_attempts');
      expect(runs).toEqual([1, 2]);
      expect(await fixture.sourceSize(queue)).toBe(sizeAtRefusal);
    });
  });
}
