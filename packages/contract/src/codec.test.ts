import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_BYTES, decodeEnvelope, encodeEnvelope } from './codec.js';
import type { Envelope, JsonObject, JsonValue } from './envelope.js';
import { DecodeError, PayloadTooLargeError, ThrunError, ValidationError } from './errors.js';
import { loadCodecVectors } from './vectors.js';

const utf8 = new TextEncoder();
const bytesOf = (text: string) => utf8.encode(text);

function decodeError(bytes: Uint8Array, limits?: Parameters<typeof decodeEnvelope>[1]): ThrunError {
  try {
    decodeEnvelope(bytes, limits);
  } catch (error) {
    if (ThrunError.isInstance(error)) return error;
    throw error;
  }
  throw new Error('expected decodeEnvelope to throw');
}

function encodeError(value: unknown, limits?: Parameters<typeof encodeEnvelope>[1]): ThrunError {
  try {
    encodeEnvelope(value as Envelope, limits);
  } catch (error) {
    if (ThrunError.isInstance(error)) return error;
    throw error;
  }
  throw new Error('expected encodeEnvelope to throw');
}

/** Plain-JSON view of a decoded value (decoded objects have no prototype). */
const plain = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

describe('codec vectors (schemas/vectors/codec)', () => {
  const vectors = loadCodecVectors();

  it('are there', () => {
    expect(vectors.length).toBeGreaterThanOrEqual(40);
  });

  it.each(vectors.map((vector) => [vector.name, vector] as const))('%s', (_name, vector) => {
    if ('error' in vector.expect) {
      const error = decodeError(vector.bytes);
      expect(error.code).toBe(vector.expect.error);
      const family =
        vector.expect.error === 'payload_too_large'
          ? PayloadTooLargeError
          : vector.expect.error === 'schema_violation'
            ? ValidationError
            : DecodeError;
      expect(family.isInstance(error)).toBe(true);
      expect(error.message).toMatch(/^\[thrun:contract\] /);
    } else {
      const envelope = decodeEnvelope(vector.bytes);
      // `toEqual` on plain JSON: `toStrictEqual` would read a decoded `constructor` key as a type.
      expect(plain(envelope)).toEqual(vector.expect.envelope);
      // What the codec decoded, it encodes again, and that decodes to the same envelope.
      expect(plain(decodeEnvelope(encodeEnvelope(envelope)))).toEqual(vector.expect.envelope);
    }
  });
});

describe('decodeEnvelope', () => {
  it('builds every object without a prototype', () => {
    const envelope = decodeEnvelope(
      bytesOf(
        '{"event":"ping","payload":{"a":{"b":[{"c":1}]}},"meta":{"event_id":"0b7c6f1e-8a2d-4c3b-9f5e-1d2c3b4a5f6e","timestamp":"2026-01-01T00:00:00Z","source":"go","batch":{"id":"0b7c6f1e-8a2d-4c3b-9f5e-1d2c3b4a5f6e","index":0,"total":1}}}',
      ),
    );
    const payload = envelope.payload as { a: { b: [JsonObject] } };
    for (const object of [
      envelope,
      envelope.payload,
      payload.a,
      payload.a.b[0],
      envelope.meta,
      envelope.meta?.batch,
    ]) {
      expect(Object.getPrototypeOf(object)).toBeNull();
    }
    expect(Array.isArray(payload.a.b)).toBe(true);
  });

  it('keeps "constructor" and "toString" as plain data', () => {
    const envelope = decodeEnvelope(
      bytesOf('{"event":"ping","payload":{"constructor":"Ferrari","toString":1}}'),
    );
    expect(envelope.payload.constructor).toBe('Ferrari');
    expect(envelope.payload.toString).toBe(1);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('rejects a 10 MB message by its size, before reading it', () => {
    const bytes = new Uint8Array(10 * 1024 * 1024).fill(0x5b); // '[' × 10 MiB: also far too deep
    const error = decodeError(bytes);
    expect(PayloadTooLargeError.isInstance(error)).toBe(true);
    expect(error.code).toBe('payload_too_large');
    expect(error.message).toContain(String(DEFAULT_MAX_BYTES));
  });

  it('rejects 10,000-deep nesting with too_deep, not a stack overflow', () => {
    const deep = `{"event":"deep","payload":{"a":${'['.repeat(10_000)}${']'.repeat(10_000)}}}`;
    const error = decodeError(bytesOf(deep));
    expect(DecodeError.isInstance(error)).toBe(true);
    expect(error.code).toBe('too_deep');
  });

  it('never recurses, so even an unlimited depth parses 200,000 levels', () => {
    const levels = 200_000;
    const deep = `{"event":"deep","payload":{"a":${'['.repeat(levels)}${']'.repeat(levels)}}}`;
    const envelope = decodeEnvelope(bytesOf(deep), {
      maxBytes: Number.POSITIVE_INFINITY,
      maxDepth: Number.POSITIVE_INFINITY,
    });
    let depth = 0;
    let node: unknown = (envelope.payload as { a: unknown }).a;
    while (Array.isArray(node)) {
      depth++;
      node = node[0];
    }
    expect(depth).toBe(levels);
  });

  it('honours custom limits', () => {
    const message = bytesOf('{"event":"ping","payload":{"a":[[1]]}}');
    expect(decodeError(message, { maxDepth: 3 }).code).toBe('too_deep');
    expect(plain(decodeEnvelope(message, { maxDepth: 4 }))).toStrictEqual({
      event: 'ping',
      payload: { a: [[1]] },
    });
    expect(decodeError(message, { maxBytes: message.byteLength - 1 }).code).toBe('payload_too_large');
    expect(decodeEnvelope(message, { maxBytes: message.byteLength }).event).toBe('ping');
  });

  it('accepts a message of exactly the default limit', () => {
    const head = '{"event":"big","payload":{"text":"';
    const tail = '"}}';
    const text = `${head}${'a'.repeat(DEFAULT_MAX_BYTES - head.length - tail.length)}${tail}`;
    const bytes = bytesOf(text);
    expect(bytes.byteLength).toBe(DEFAULT_MAX_BYTES);
    expect((decodeEnvelope(bytes).payload.text as string).length).toBe(
      DEFAULT_MAX_BYTES - head.length - tail.length,
    );
    expect(decodeError(bytesOf(`${text} `)).code).toBe('payload_too_large');
  });

  it('reports schema violations with JSON Pointers', () => {
    const error = decodeError(
      bytesOf('{"event":"Bad Name","payload":[],"extra":1,"meta":{"event_id":"x","source":"go"}}'),
    );
    expect(ValidationError.isInstance(error)).toBe(true);
    const issues = (error as ValidationError).issues.map((issue) => issue.path);
    expect(issues).toEqual(
      expect.arrayContaining(['/event', '/payload', '/extra', '/meta/event_id', '/meta/timestamp']),
    );
  });

  it('reports where the JSON broke', () => {
    expect(decodeError(bytesOf('{"event":"ping","payload":{}}  x')).message).toContain('offset 31');
    expect(decodeError(bytesOf('{"event":"ping","payload":{"id":1,"id":2}}')).message).toContain('"id"');
  });

  // The native path proves "no duplicate key" by counting the members written in the text, first by
  // its colons after a quote (an upper bound), then exactly. Colons in strings, whitespace before a
  // colon and escaped quotes are what a careless count would get wrong in either direction.
  it.each([
    ['whitespace before the colons', '{"a" :1,"a"\n:2}'],
    ['whitespace before the colons and a colon after a quote in a value', '{"a" :1,"a" :2,"b":":"}'],
    ['an escaped quote then a colon in a value', '{"x":"\\":","x":1}'],
    ['an escaped quote then a colon in a key', '{"\\":":1,"\\":":2}'],
    ['an escaped backslash before a closing quote', '{"k\\\\":1,"k\\\\" :2}'],
    ['a colon in the duplicate value', '{"a":"x:y","b":[{"c":1,"c":":"}]}'],
    ['more colons in a string than the cheap count looks at', `{"a":"${'\\":'.repeat(40)}","a":1}`],
  ])('finds a duplicate key despite %s', (_what, payload) => {
    const error = decodeError(bytesOf(`{"event":"ping","payload":${payload}}`));
    expect(error.code).toBe('duplicate_key');
  });

  it.each([
    ['a value that starts with a colon', '{"a":":","b" : "::"}', { a: ':', b: '::' }],
    ['an escaped quote then a colon', '{"k\\":" :"v\\":","n"\t:1}', { 'k":': 'v":', n: 1 }],
    [
      'colons in strings',
      '{" : ":" \\": ","t":"2026-01-01T00:00:00Z"}',
      { ' : ': ' ": ', t: '2026-01-01T00:00:00Z' },
    ],
    [
      'more colons in a string than the cheap count looks at',
      `{"u":"${'\\":'.repeat(40)}"}`,
      { u: '":'.repeat(40) },
    ],
  ])('accepts %s, which the colon count overestimates', (_what, payload, expected) => {
    expect(plain(decodeEnvelope(bytesOf(`{"event":"ping","payload":${payload}}`)))).toStrictEqual({
      event: 'ping',
      payload: expected,
    });
  });

  it('is not retryable: the same bytes fail again', () => {
    expect(decodeError(bytesOf('{')).isRetryable).toBe(false);
  });
});

describe('encodeEnvelope', () => {
  const base = { event: 'order_created', payload: { order_id: 123 } };

  it('writes compact UTF-8 JSON that decodes to the same envelope', () => {
    const envelope: Envelope = {
      event: 'chat.message',
      payload: { text: 'héllo 👋🏽 مرحبا', nested: { list: [1, 'two', null, true, { x: -1.5 }] } },
      meta: {
        event_id: '0b7c6f1e-8a2d-4c3b-9f5e-1d2c3b4a5f6e',
        timestamp: '2026-01-01T00:00:00.000Z',
        source: 'node',
      },
    };
    const bytes = encodeEnvelope(envelope);
    expect(new TextDecoder().decode(bytes)).toBe(JSON.stringify(envelope));
    expect(plain(decodeEnvelope(bytes))).toStrictEqual(envelope);
  });

  it('leaves out object properties whose value is undefined, like JSON.stringify', () => {
    const bytes = encodeEnvelope({
      ...base,
      payload: { order_id: 1, note: undefined },
    } as unknown as Envelope);
    expect(new TextDecoder().decode(bytes)).toBe('{"event":"order_created","payload":{"order_id":1}}');
  });

  const circular: Record<string, unknown> = { a: 1 };
  circular.self = circular;
  const shared = { x: 1 };
  class Money {
    amount = 1;
  }
  const withProto = JSON.parse('{"__proto__":{"isAdmin":true}}');
  const holey = [1];
  holey[2] = 3;

  it.each([
    ['a function', { f: () => 1 }, '/payload/f', /function/],
    ['a symbol', { s: Symbol('x') }, '/payload/s', /symbol/],
    ['a BigInt', { id: 10n }, '/payload/id', /bigint/],
    ['NaN', { n: Number.NaN }, '/payload/n', /NaN/],
    ['Infinity', { list: [1, Number.POSITIVE_INFINITY] }, '/payload/list/1', /Infinity/],
    ['undefined in an array', { list: [1, undefined] }, '/payload/list/1', /undefined/],
    ['a hole in an array', { list: holey }, '/payload/list/1', /undefined/],
    ['an unsafe integer', { id: 2 ** 53 }, '/payload/id', /2\^53/],
    ['a cycle', { loop: circular }, '/payload/loop/self', /cycle/],
    ['a Date', { at: new Date(0) }, '/payload/at', /Date/],
    ['a Map', { m: new Map() }, '/payload/m', /Map/],
    ['a class instance', { price: new Money() }, '/payload/price', /Money/],
    ['a typed array', { bytes: new Uint8Array(2) }, '/payload/bytes', /Uint8Array/],
    ['a boxed string', { s: new String('x') }, '/payload/s', /String/],
    ['a __proto__ key', { evil: withProto }, '/payload/evil/__proto__', /__proto__/],
    ['a key that needs escaping in a pointer', { 'a/b~c': [() => 1] }, '/payload/a~1b~0c/0', /function/],
  ])('rejects %s with invalid_payload naming the path', (_what, payload, path, problem) => {
    const error = encodeError({ ...base, payload });
    expect(ValidationError.isInstance(error)).toBe(true);
    expect(error.code).toBe('invalid_payload');
    expect((error as ValidationError).issues).toEqual([{ path, message: expect.stringMatching(problem) }]);
    expect(error.message).toContain(path);
  });

  it('accepts the same object twice when it is not a cycle', () => {
    expect(
      plain(decodeEnvelope(encodeEnvelope({ ...base, payload: { a: shared, b: shared } }))),
    ).toStrictEqual({
      ...base,
      payload: { a: { x: 1 }, b: { x: 1 } },
    });
  });

  it('rejects nesting the decoder would reject', () => {
    let deep: JsonValue = 1;
    for (let i = 0; i < 63; i++) deep = [deep]; // envelope + payload + 63 arrays = 65 levels
    expect(encodeError({ ...base, payload: { deep } }).code).toBe('invalid_payload');
    expect(
      decodeEnvelope(encodeEnvelope({ ...base, payload: { deep } }, { maxDepth: 65 }), { maxDepth: 65 })
        .event,
    ).toBe(base.event);
  });

  it('rejects an envelope that breaks the schema', () => {
    const error = encodeError({ event: 'Order Created', payload: {} });
    expect(error.code).toBe('schema_violation');
    expect((error as ValidationError).issues[0]?.path).toBe('/event');
    expect(encodeError({ ...base, meta: { source: 'node' } }).code).toBe('schema_violation');
  });

  it('rejects an envelope larger than maxBytes with PayloadTooLargeError', () => {
    const big = { ...base, payload: { text: 'é'.repeat(600_000) } }; // 1.2 MB as UTF-8, 600k UTF-16 units
    const error = encodeError(big);
    expect(PayloadTooLargeError.isInstance(error)).toBe(true);
    expect(encodeEnvelope(big, { maxBytes: 2 * 1024 * 1024 }).byteLength).toBeGreaterThan(1_200_000);
    expect(encodeError({ ...base, payload: { text: 'a'.repeat(10 * 1024 * 1024) } }).code).toBe(
      'payload_too_large',
    );
  });
});

describe('decodeEnvelope against JSON.parse on mutated input', () => {
  // A deterministic generator (mulberry32), so a failure reproduces.
  let seed = 0x7468_7275;
  const random = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const alphabet = [
    '{',
    '}',
    '[',
    ']',
    '"',
    ':',
    ',',
    '\\',
    'u',
    'e',
    '-',
    '+',
    '.',
    '0',
    '1',
    '9',
    ' ',
    '\n',
    'a',
    't',
    'n',
    'é',
    '😀',
  ];
  const seeds = loadCodecVectors()
    .filter((vector) => 'envelope' in vector.expect && vector.bytes.byteLength < 4096)
    .map((vector) => new TextDecoder().decode(vector.bytes));

  it('agrees with JSON.parse wherever the stricter rules do not apply, and throws only typed errors', () => {
    const codes = new Set<string>();
    for (let round = 0; round < 5_000; round++) {
      let text = pick(seeds);
      for (let edits = 1 + Math.floor(random() * 3); edits > 0; edits--) {
        const at = Math.floor(random() * (text.length + 1));
        const kind = random();
        if (kind < 0.4) text = text.slice(0, at) + pick(alphabet) + text.slice(at);
        else if (kind < 0.8) text = text.slice(0, at) + text.slice(at + 1);
        else text = text.slice(0, at);
      }
      // Edits may split a surrogate pair: compare on the very bytes the decoder gets.
      const bytes = utf8.encode(text);
      text = new TextDecoder().decode(bytes);
      let expected: unknown;
      let parsed = true;
      try {
        expected = JSON.parse(text);
      } catch {
        parsed = false;
      }
      let decoded: unknown;
      try {
        decoded = decodeEnvelope(bytes);
      } catch (error) {
        expect(ThrunError.isInstance(error), String(error)).toBe(true);
        const code = (error as ThrunError).code;
        codes.add(code);
        // Valid JSON rejected as invalid JSON: only for a \u escape of a lone surrogate.
        if (parsed && code === 'invalid_json') expect(text).toMatch(/\\u[dD][89a-fA-F]/);
        continue;
      }
      expect(parsed, text).toBe(true);
      expect(plain(decoded)).toEqual(expected);
    }
    // The mutations reach the decoder's different rules, not just one of them.
    expect(codes).toContain('invalid_json');
    expect(codes).toContain('schema_violation');
  });
});
