import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type CodecVectorCase, codecVectorBytes, loadCodecVectors, vectorsDirectory } from '../vectors.js';

/** A body the round-trip case publishes, with where it came from. */
export interface RoundTripBody {
  description: string;
  body: Uint8Array;
}

const utf8 = new TextEncoder();

/**
 * Every codec vector's input bytes: from the schemas the package ships, else (a source checkout
 * not built yet) from the repository's `schemas/`.
 */
function codecVectorBodies(): RoundTripBody[] {
  if (existsSync(join(vectorsDirectory, 'codec'))) {
    return loadCodecVectors().map((vector) => ({ description: vector.name, body: vector.bytes }));
  }
  const repository = fileURLToPath(new URL('../../../../schemas/vectors/codec/', import.meta.url));
  if (!existsSync(repository)) return [];
  return readdirSync(repository)
    .filter((name) => name.endsWith('.json'))
    .sort()
    .flatMap((name) => {
      const { cases } = JSON.parse(readFileSync(join(repository, name), 'utf8')) as {
        cases: CodecVectorCase[];
      };
      return cases.map((vector) => ({
        description: `codec/${name}: ${vector.description}`,
        body: codecVectorBytes(vector),
      }));
    });
}

/** Deterministic bytes covering every value 0x00–0xff, so a body that is "large" is also arbitrary. */
export function arbitraryBytes(size: number, seed = 1): Uint8Array {
  const bytes = new Uint8Array(size);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    bytes[i] = state >>> 24;
  }
  return bytes;
}

/**
 * Edge cases every transport must carry unchanged, whatever the vectors hold: text a broker client
 * might re-encode, bytes that are not UTF-8, NUL bytes, nothing at all, and a large arbitrary body.
 */
export function builtInRoundTripBodies(maxPayloadBytes: number): RoundTripBody[] {
  const large = Math.min(maxPayloadBytes, 1024 * 1024);
  return [
    { description: 'built-in: empty body', body: new Uint8Array(0) },
    { description: 'built-in: one NUL byte', body: new Uint8Array([0]) },
    { description: 'built-in: NUL bytes inside text', body: utf8.encode('a\u0000b\u0000\u0000c') },
    { description: 'built-in: emoji and ZWJ sequences', body: utf8.encode('{"v":"😀 👩‍👩‍👧 🇫🇷"}') },
    { description: 'built-in: accents, CJK, RTL', body: utf8.encode('é ü ñ 中文 日本語 עברית العربية') },
    { description: 'built-in: byte order mark', body: new Uint8Array([0xef, 0xbb, 0xbf, 0x7b, 0x7d]) },
    { description: 'built-in: CR, LF, tab', body: utf8.encode('line1\r\nline2\n\tend\r') },
    { description: 'built-in: invalid UTF-8 (0xff 0xfe)', body: new Uint8Array([0xff, 0xfe, 0x41]) },
    {
      description: 'built-in: invalid UTF-8 (overlong)',
      body: new Uint8Array([0xc0, 0xaf, 0xe0, 0x80, 0xaf]),
    },
    {
      description: 'built-in: lone surrogate (CESU-8)',
      body: new Uint8Array([0x22, 0xed, 0xa0, 0x80, 0x22]),
    },
    { description: 'built-in: truncated multi-byte sequence', body: new Uint8Array([0xe2, 0x82]) },
    { description: 'built-in: every byte value', body: Uint8Array.from({ length: 256 }, (_, i) => i) },
    {
      description: 'built-in: JSON envelope',
      body: utf8.encode(
        '{"event":"order_created","payload":{"order_id":9007199254740993},"meta":{"id":"0b7e7c6e-0000-4000-8000-000000000000"}}',
      ),
    },
    { description: `built-in: large arbitrary body (${large} bytes)`, body: arbitraryBytes(large) },
  ];
}

/** The round-trip bodies: every codec vector's input, then the built-in edge cases. */
export function roundTripBodies(maxPayloadBytes: number): {
  bodies: RoundTripBody[];
  tooLarge: RoundTripBody[];
} {
  const all = codecVectorBodies();
  all.push(...builtInRoundTripBodies(maxPayloadBytes));
  // The built-in large body follows the limit, so it is never left out.
  return {
    bodies: all.filter((entry) => entry.body.byteLength <= maxPayloadBytes),
    tooLarge: all.filter((entry) => entry.body.byteLength > maxPayloadBytes),
  };
}
