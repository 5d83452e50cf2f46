import { decodeEnvelope, type Envelope, encodeEnvelope, isValidEnvelope } from '@thrun/contract';
import type { Comparison, SuiteResult } from '../report.js';

/**
 * The safe codec against what it replaces: `JSON.parse` + the same precompiled schema validation
 * (decode), and `JSON.stringify` + UTF-8 encoding (encode). Thrun's decoder additionally checks size,
 * strict UTF-8, duplicate and `__proto__` keys, depth and unsafe integers in the same pass.
 */
const typical: Envelope = {
  event: 'order_created',
  payload: {
    order_id: 123,
    customer: { id: 'c-42', name: 'Zoë Müller', tier: 'gold' },
    items: [
      { sku: 'A-1', qty: 2, price: 12.5 },
      { sku: 'B-7', qty: 1, price: 99.99 },
    ],
  },
  meta: {
    event_id: '0b7c6f1e-8a2d-4c3b-9f5e-1d2c3b4a5f6e',
    timestamp: '2026-01-01T00:00:00.000Z',
    source: 'billing',
  },
};
const large: Envelope = {
  event: 'catalog.updated',
  payload: {
    products: Array.from({ length: 100 }, (_, i) => ({
      sku: `SKU-${i}`,
      name: `Product ${i} — édition spéciale`,
      price: i * 1.25,
      tags: ['a', 'b', 'c'],
      stock: { warehouse: 'north', count: i },
    })),
  },
};

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const utf8 = new TextEncoder();

/**
 * Nanoseconds of CPU time (user + system, this process) per call of each function. They run in
 * alternating rounds and each keeps its fastest round. CPU time rather than the wall clock: on a busy
 * machine, the longer side's rounds would otherwise be the likelier to lose time slices to other jobs.
 */
function nsPerOp(thrun: () => void, peer: () => void, callsPerRound: number): [number, number] {
  for (let i = 0; i < callsPerRound * 4; i++) {
    thrun();
    peer();
  }
  const round = (run: () => void) => {
    const start = process.cpuUsage();
    for (let i = 0; i < callsPerRound; i++) run();
    const used = process.cpuUsage(start);
    return ((used.user + used.system) * 1000) / callsPerRound;
  };
  let best: [number, number] = [Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY];
  for (let r = 0; r < 40; r++) best = [Math.min(best[0], round(thrun)), Math.min(best[1], round(peer))];
  return best;
}

function decodeCase(name: string, envelope: Envelope, callsPerRound: number, target: number): Comparison {
  const bytes = encodeEnvelope(envelope);
  const [thrun, peer] = nsPerOp(
    () => decodeEnvelope(bytes),
    () => {
      const value: unknown = JSON.parse(strictUtf8.decode(bytes));
      if (!isValidEnvelope(value)) throw new Error('invalid');
    },
    callsPerRound,
  );
  return {
    case: `decode ${name} (${bytes.byteLength} B)`,
    unit: 'ns/op',
    thrun,
    peer,
    peerName: 'JSON.parse + validate',
    better: 'lower',
    target,
  };
}

function encodeCase(name: string, envelope: Envelope, callsPerRound: number): Comparison {
  const [thrun, peer] = nsPerOp(
    () => encodeEnvelope(envelope),
    () => utf8.encode(JSON.stringify(envelope)),
    callsPerRound,
  );
  return {
    case: `encode ${name}`,
    unit: 'ns/op',
    thrun,
    peer,
    peerName: 'JSON.stringify',
    better: 'lower',
  };
}

export async function codecSuite(): Promise<SuiteResult> {
  return {
    suite: 'codec',
    workload:
      'decodeEnvelope/encodeEnvelope on one thread, a typical order envelope and a 100-product payload; ns of CPU time per message, best of 40 alternating rounds',
    comparisons: [
      decodeCase('typical envelope', typical, 5_000, 2),
      decodeCase('100-product payload', large, 100, 3),
      encodeCase('typical envelope', typical, 5_000),
      encodeCase('100-product payload', large, 100),
    ],
  };
}
