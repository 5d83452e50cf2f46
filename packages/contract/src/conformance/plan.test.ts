import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { TransportCapabilities } from '../transport.js';
import { loadCodecVectors } from '../vectors.js';
import { conformanceCases } from './cases.js';
import { planConformanceCases } from './describe-transport-conformance.js';
import { builtInRoundTripBodies, roundTripBodies } from './vectors.js';

const everything: TransportCapabilities = {
  delay: true,
  fanout: true,
  ordering: 'fifo',
  persistent: true,
  maxPayloadBytes: 1024 * 1024,
  deadLetter: true,
  redeliversUnacked: true,
};
const nothing: TransportCapabilities = {
  delay: false,
  fanout: false,
  ordering: 'none',
  persistent: false,
  maxPayloadBytes: 1024,
  deadLetter: false,
  redeliversUnacked: false,
};
const withPeekAndPurge = {
  peek: async () => [],
  purge: async () => 0,
  inspect: async () => [],
  removeGroup: async () => {},
};

const skipped = (plan: ReturnType<typeof planConformanceCases>) =>
  Object.fromEntries(
    plan.filter((entry) => entry.skipReason !== undefined).map((entry) => [entry.id, entry.skipReason]),
  );

describe('planConformanceCases', () => {
  it('runs every case for a transport that claims everything', () => {
    const plan = planConformanceCases(everything, {}, withPeekAndPurge);
    expect(plan.map((entry) => entry.id)).toEqual(conformanceCases.map((entry) => entry.id));
    expect(new Set(plan.map((entry) => entry.id)).size).toBe(plan.length);
    expect(skipped(plan)).toEqual({});
  });

  it('skips each case a missing capability excludes, saying which', () => {
    expect(skipped(planConformanceCases(nothing))).toEqual({
      'delayed-retry': 'capabilities.delay is false',
      'delayed-publish': 'capabilities.delay is false',
      'dead-letter': 'capabilities.deadLetter is false',
      'dead-letter-fits': 'capabilities.deadLetter is false',
      'fifo-order': "capabilities.ordering is 'none'",
      'per-key-order': "capabilities.ordering is 'none'",
      persistence: 'capabilities.persistent is false',
      'dead-consumer': 'capabilities.redeliversUnacked is false',
      peek: 'the transport has no peek()',
      purge: 'the transport has no purge()',
      'inspect-waiting': 'the transport has no inspect()',
      'inspect-dead': 'capabilities.deadLetter is false',
      'inspect-delayed': 'capabilities.delay is false',
      'observer-group': 'capabilities.fanout is false: an observer would take messages from workers',
    });
  });

  it('runs per-key order but not FIFO for a per-key transport', () => {
    const plan = skipped(planConformanceCases({ ...everything, ordering: 'per-key' }, {}, withPeekAndPurge));
    expect(plan).toEqual({ 'fifo-order': "capabilities.ordering is 'per-key'" });
  });

  it('adapts the fan-out case to groups sharing one copy', () => {
    const title = (capabilities: TransportCapabilities) =>
      planConformanceCases(capabilities).find((entry) => entry.id === 'fanout')!.title;
    expect(title(everything)).toMatch(/each consumer group receives its own copy/);
    expect(title(nothing)).toMatch(/exactly one group \(capabilities.fanout is false\)/);
  });

  it('lets features skip a case with the transport’s own reason', () => {
    const plan = planConformanceCases(
      everything,
      { skip: { fanout: 'needs two brokers' } },
      withPeekAndPurge,
    );
    expect(skipped(plan)).toEqual({ fanout: 'needs two brokers' });
  });
});

describe('round-trip bodies', () => {
  it('covers the edge cases and keeps only what fits maxPayloadBytes', () => {
    const builtIn = builtInRoundTripBodies(64);
    expect(builtIn.some((entry) => entry.body.byteLength === 0)).toBe(true);
    expect(builtIn.some((entry) => entry.body.includes(0))).toBe(true);
    expect(builtIn.some((entry) => entry.body.includes(0xff))).toBe(true);
    expect(Math.max(...builtIn.map((entry) => entry.body.byteLength))).toBe(256);
    const { bodies, tooLarge } = roundTripBodies(64);
    expect(bodies.every((entry) => entry.body.byteLength <= 64)).toBe(true);
    expect(tooLarge.every((entry) => entry.body.byteLength > 64)).toBe(true);
    expect(tooLarge.some((entry) => entry.description.startsWith('built-in: every byte value'))).toBe(true);
    // The large body follows the limit, up to 1 MiB.
    expect(builtInRoundTripBodies(8 * 1024 * 1024).at(-1)!.body.byteLength).toBe(1024 * 1024);
  });
});

describe('round-trip vectors', () => {
  it('carries every codec vector input that fits, whatever its expected decoding', () => {
    const vectors = loadCodecVectors();
    expect(vectors.length).toBeGreaterThan(0);
    const { bodies, tooLarge } = roundTripBodies(1024 * 1024);
    const fromVectors = [...bodies, ...tooLarge].filter((entry) => entry.description.startsWith('codec/'));
    expect(fromVectors.map((entry) => entry.description).sort()).toEqual(
      vectors.map((vector) => vector.name).sort(),
    );
    expect(tooLarge.map((entry) => entry.description).sort()).toEqual(
      vectors
        .filter((vector) => vector.bytes.byteLength > 1024 * 1024)
        .map((vector) => vector.name)
        .sort(),
    );
  });
});

describe('the main entry', () => {
  it('never imports vitest: only this sub-path does', () => {
    const src = fileURLToPath(new URL('..', import.meta.url));
    const offenders = readdirSync(src, { recursive: true, encoding: 'utf8' })
      .filter((file) => file.endsWith('.ts') && !file.endsWith('.test.ts') && !file.startsWith('conformance'))
      .filter((file) => /from ['"]vitest/.test(readFileSync(`${src}/${file}`, 'utf8')));
    expect(offenders).toEqual([]);
  });
});
