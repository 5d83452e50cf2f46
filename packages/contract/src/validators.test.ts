import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  createDeadLetterMetadata,
  DEAD_LETTER_HEADERS,
  DEAD_LETTER_OVERHEAD_BYTES,
  DEAD_LETTER_REASON_LIMITS,
  deadLetterHeaders,
  decodeDeadLetter,
  encodeDeadLetterFrame,
} from './dead-letter.js';
import { ThrunError, ValidationError } from './errors.js';
import { isEventName } from './event-name.js';
import {
  isValidDeadLetterRecord,
  isValidEnvelope,
  validateDeadLetterRecord,
  validateEnvelope,
} from './validators.js';
import { loadEnvelopeVectors } from './vectors.js';

function validationError(run: () => void): ValidationError {
  try {
    run();
  } catch (error) {
    if (ValidationError.isInstance(error)) return error as ValidationError;
    throw error;
  }
  throw new Error('expected a ValidationError');
}

describe('envelope vectors through the precompiled validator', () => {
  const suites = loadEnvelopeVectors();
  const cases = suites.flatMap((suite) =>
    suite.tests.map((test) => [`${suite.file}: ${suite.description} › ${test.description}`, test] as const),
  );

  it('cover every file with the envelope schema', () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
    for (const suite of suites)
      expect(suite.schema).toEqual({ $ref: 'https://thrun.dev/schemas/envelope.schema.json' });
  });

  it.each(cases)('%s', (_name, test) => {
    expect(isValidEnvelope(test.data)).toBe(test.valid);
    if (test.valid) {
      expect(() => validateEnvelope(test.data)).not.toThrow();
    } else {
      const error = validationError(() => validateEnvelope(test.data));
      expect(error.code).toBe('schema_violation');
      expect(error.issues.length).toBeGreaterThan(0);
      for (const issue of error.issues) expect(issue.path === '' || issue.path.startsWith('/')).toBe(true);
    }
  });
});

describe('isEventName and the schema', () => {
  it('agree on every event-name vector and on generated names', () => {
    const names = loadEnvelopeVectors()
      .filter((suite) => suite.file === 'envelope/event-name.json')
      .flatMap((suite) => suite.tests.map((test) => (test.data as { event: unknown }).event));
    const characters = ['a', 'z', '0', '9', '.', '_', '-', 'A', ' ', '*', '#', 'é', '/', '\n'];
    let seed = 7;
    const next = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    for (let n = 0; n < 2_000; n++) {
      const length = Math.floor(next() * 8);
      names.push(Array.from({ length }, () => characters[Math.floor(next() * characters.length)]).join(''));
    }
    names.push('a'.repeat(255), 'a'.repeat(256), `${'a.'.repeat(127)}a`);
    for (const event of names)
      expect(isValidEnvelope({ event, payload: {} }), JSON.stringify(event)).toBe(isEventName(event));
  });
});

describe('validateEnvelope issues', () => {
  it('point at the missing key, the unknown key and the bad value', () => {
    const error = validationError(() =>
      validateEnvelope({
        payload: {},
        'odd/key': 1,
        meta: { event_id: 'nope', timestamp: '2026-01-01T00:00:00Z' },
      }),
    );
    expect([...new Set(error.issues.map((issue) => issue.path))].sort()).toEqual([
      '/event',
      '/meta/event_id',
      '/meta/source',
      '/odd~1key',
    ]);
    expect(error.message).toMatch(/^\[thrun:contract\] invalid envelope: /);
    expect(ThrunError.isInstance(error)).toBe(true);
    expect(error.isRetryable).toBe(false);
  });

  it('point at the root for a value that is not an object', () => {
    expect(validationError(() => validateEnvelope('hello')).issues).toEqual([
      { path: '', message: 'must be object' },
    ]);
  });
});

describe('the generated validators', () => {
  it('import only ajv runtime helpers: nothing is compiled at start-up', () => {
    const code = readFileSync(new URL('./generated/validators.ts', import.meta.url), 'utf8');
    const imports = [...code.matchAll(/^import .* from "([^"]+)";$/gm)].map((match) => match[1]);
    for (const specifier of imports) expect(specifier).toMatch(/^ajv\/dist\/runtime\/[\w-]+\.js$/);
    expect(code).not.toMatch(/new Function|\beval\(|require\(/);
  });
});

describe('dead letters', () => {
  const reason = { code: 'max_attempts', message: 'gave up after 5 attempts' };
  const failedAt = new Date('2026-01-01T00:00:00Z');
  const utf8 = new TextEncoder();
  const description = (body: Uint8Array) =>
    createDeadLetterMetadata({ queue: 'events', reason, attempts: 5, failedAt, ...{ body } });

  it('frame: the description line validates and the original bytes follow unchanged', () => {
    const body = utf8.encode('{"event":"go_message","payload":{"text":"héllo 👋\\n"}}');
    const frame = encodeDeadLetterFrame({ queue: 'events', body, reason, attempts: 5, failedAt });
    const newline = frame.indexOf(0x0a);
    expect(isValidDeadLetterRecord(JSON.parse(new TextDecoder().decode(frame.subarray(0, newline))))).toBe(
      true,
    );
    expect(frame.subarray(newline + 1)).toEqual(body);
    const decoded = decodeDeadLetter({ body: frame });
    expect(decoded).toEqual({ ...description(body), originalBody: body, form: 'frame' });
  });

  it('frame: control bytes and binary bodies cost no escaping (the frame is the body plus one line)', () => {
    for (const body of [new Uint8Array(200_000).fill(0x01), new Uint8Array([0xff, 0x0a, 0x00, 0xc0])]) {
      const frame = encodeDeadLetterFrame({ queue: 'events', body, reason, attempts: 1 });
      expect(frame.byteLength - body.byteLength).toBeLessThan(DEAD_LETTER_OVERHEAD_BYTES);
      expect(decodeDeadLetter({ body: frame }).originalBody).toEqual(body);
    }
  });

  it('headers: the body is the original bytes, the description is in thrun-dead-* headers', () => {
    const body = new Uint8Array([0x7b, 0xff, 0xfe, 0x00, 0x7d]);
    const headers = deadLetterHeaders(description(body));
    expect(Object.keys(headers).sort()).toEqual(Object.values(DEAD_LETTER_HEADERS).sort());
    expect(headers[DEAD_LETTER_HEADERS.attempts]).toBe('5');
    expect(decodeDeadLetter({ body, headers })).toEqual({
      ...description(body),
      originalBody: body,
      form: 'headers',
    });
  });

  it('record: what earlier versions wrote is still read, UTF-8 or base64', () => {
    const metadata = description(new Uint8Array());
    const asRecord = (extra: object) => utf8.encode(JSON.stringify({ ...metadata, ...extra }));
    expect(decodeDeadLetter({ body: asRecord({ body: '{"a":1}' }) })).toEqual({
      ...metadata,
      originalBody: utf8.encode('{"a":1}'),
      form: 'record',
    });
    expect([...decodeDeadLetter({ body: asRecord({ body_base64: 'e//+AH0=' }) }).originalBody]).toEqual([
      0x7b, 0xff, 0xfe, 0x00, 0x7d,
    ]);
    expect(() => decodeDeadLetter({ body: asRecord({}) })).toThrow(/exactly one of body and body_base64/);
  });

  it('cuts a long reason at a character boundary, so the description stays small', () => {
    const long = { code: 'c'.repeat(300), message: `${'é'.repeat(600)}😀` };
    const metadata = createDeadLetterMetadata({ queue: 'q', reason: long, attempts: 1 });
    expect(utf8.encode(metadata.error.code).byteLength).toBeLessThanOrEqual(
      DEAD_LETTER_REASON_LIMITS.codeBytes,
    );
    const messageBytes = utf8.encode(metadata.error.message).byteLength;
    expect(messageBytes).toBeLessThanOrEqual(DEAD_LETTER_REASON_LIMITS.messageBytes);
    expect(messageBytes).toBeGreaterThan(DEAD_LETTER_REASON_LIMITS.messageBytes - 4);
    expect(metadata.error.message).toMatch(/^é+…$/);
    expect(isValidDeadLetterRecord(metadata)).toBe(true);
    const short = createDeadLetterMetadata({ queue: 'q', reason, attempts: 1 });
    expect(short.error).toEqual(reason);
  });

  it.each([
    ['a frame whose line is not JSON', { body: utf8.encode('nope\n{}') }, /not UTF-8 JSON/],
    [
      'a frame without attempts',
      { body: utf8.encode('{"queue":"q","error":{"code":"c","message":"m"},"failed_at":"x"}\n') },
      /required/,
    ],
    [
      'headers without a queue',
      { body: new Uint8Array(), headers: { [DEAD_LETTER_HEADERS.errorCode]: 'c' } },
      /required/,
    ],
  ])('rejects %s', (_what, message, pattern) => {
    expect(() => decodeDeadLetter(message)).toThrow(pattern);
  });

  const valid = { ...description(new Uint8Array()) };
  it.each([
    ['both bodies', { ...valid, body: 'A', body_base64: 'QQ==' }, ''],
    ['a bad queue name', { ...valid, queue: 'Events!' }, '/queue'],
    ['attempts 0', { ...valid, attempts: 0 }, '/attempts'],
    ['a local failed_at', { ...valid, failed_at: '2026-01-01 00:00:00' }, '/failed_at'],
    ['an error without a code', { ...valid, error: { message: 'x' } }, '/error/code'],
    ['body_base64 that is not base64', { ...valid, body_base64: 'not base64!' }, '/body_base64'],
  ])('the schema rejects %s', (_what, record, path) => {
    const value = JSON.parse(JSON.stringify(record));
    expect(isValidDeadLetterRecord(value)).toBe(false);
    const error = validationError(() => validateDeadLetterRecord(value));
    expect(error.issues.map((issue) => issue.path)).toContain(path);
  });
});
