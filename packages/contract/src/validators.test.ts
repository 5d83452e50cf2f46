import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createDeadLetterRecord, decodeDeadLetterRecord, encodeDeadLetterRecord } from './dead-letter.js';
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

describe('dead-letter records', () => {
  const reason = { code: 'max_attempts', message: 'gave up after 5 attempts' };
  const failedAt = new Date('2026-01-01T00:00:00Z');

  it('validate when the body is UTF-8, and read back the same bytes', () => {
    const body = new TextEncoder().encode('{"event":"go_message","payload":{"text":"héllo 👋"}}');
    const record = createDeadLetterRecord({ queue: 'events', body, reason, attempts: 5, failedAt });
    expect(record.body).toBeDefined();
    expect(isValidDeadLetterRecord(record)).toBe(true);
    const decoded = decodeDeadLetterRecord(
      encodeDeadLetterRecord({ queue: 'events', body, reason, attempts: 5 }),
    );
    expect(isValidDeadLetterRecord(JSON.parse(JSON.stringify({ ...decoded, originalBody: undefined })))).toBe(
      true,
    );
    expect(decoded.originalBody).toEqual(body);
  });

  it('validate when the body is not UTF-8 (body_base64)', () => {
    const body = new Uint8Array([0x7b, 0xff, 0xfe, 0x00, 0x7d]);
    const record = createDeadLetterRecord({ queue: 'orders.priority', body, reason, attempts: 1, failedAt });
    expect(record.body).toBeUndefined();
    expect(record.body_base64).toBe('e//+AH0=');
    expect(isValidDeadLetterRecord(record)).toBe(true);
    expect(
      decodeDeadLetterRecord(encodeDeadLetterRecord({ queue: 'orders', body, reason, attempts: 1 }))
        .originalBody,
    ).toEqual(body);
  });

  it('validate for an empty body', () => {
    expect(
      isValidDeadLetterRecord(
        createDeadLetterRecord({ queue: 'q', body: new Uint8Array(), reason, attempts: 1 }),
      ),
    ).toBe(true);
  });

  const valid = createDeadLetterRecord({
    queue: 'events',
    body: new Uint8Array([0x41]),
    reason,
    attempts: 2,
    failedAt,
  });
  it.each([
    ['both bodies', { ...valid, body_base64: 'QQ==' }, ''],
    ['no body at all', { ...valid, body: undefined }, ''],
    ['a bad queue name', { ...valid, queue: 'Events!' }, '/queue'],
    ['attempts 0', { ...valid, attempts: 0 }, '/attempts'],
    ['a local failed_at', { ...valid, failed_at: '2026-01-01 00:00:00' }, '/failed_at'],
    ['an error without a code', { ...valid, error: { message: 'x' } }, '/error/code'],
    [
      'body_base64 that is not base64',
      { queue: 'events', error: reason, attempts: 1, failed_at: valid.failed_at, body_base64: 'not base64!' },
      '/body_base64',
    ],
  ])('reject %s', (_what, record, path) => {
    const value = JSON.parse(JSON.stringify(record));
    expect(isValidDeadLetterRecord(value)).toBe(false);
    const error = validationError(() => validateDeadLetterRecord(value));
    expect(error.issues.map((issue) => issue.path)).toContain(path);
  });
});
