/**
 * The schemas checked by an independent implementation: Hyperjump's JSON Schema validator (by an
 * author of the specification), not ajv and not this package's code. It reads the schema files and
 * the vector files straight from disk, so it checks the files every other runtime uses.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { registerSchema, validate } from '@hyperjump/json-schema/draft-2020-12';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadCodecVectors, schemasDirectory, vectorsDirectory } from './vectors.js';

const readJson = (path: string): unknown => JSON.parse(readFileSync(path, 'utf8'));
type Validator = (value: unknown) => boolean;

const ENVELOPE = 'https://thrun.dev/schemas/envelope.schema.json';
const DEAD_LETTER = 'https://thrun.dev/schemas/dead-letter.schema.json';
const VECTORS = 'https://thrun.dev/schemas/vectors/vectors.schema.json';

const validators = new Map<string, Validator>();
const validatorFor = (uri: string): Validator => {
  const validator = validators.get(uri);
  if (!validator) throw new Error(`no validator for ${uri}`);
  return validator;
};

beforeAll(async () => {
  for (const file of ['envelope.schema.json', 'dead-letter.schema.json', 'vectors/vectors.schema.json']) {
    registerSchema(readJson(join(schemasDirectory, file)) as Parameters<typeof registerSchema>[0]);
  }
  for (const uri of [ENVELOPE, DEAD_LETTER, VECTORS]) {
    const run = await validate(uri);
    validators.set(uri, (value) => run(value as Parameters<typeof run>[0]).valid);
  }
});

const vectorFiles = (folder: string) =>
  readdirSync(join(vectorsDirectory, folder))
    .filter((name) => name.endsWith('.json'))
    .map((name) => `${folder}/${name}`);

interface Suite {
  description: string;
  schema: { $ref: string };
  tests: { description: string; data: unknown; valid: boolean }[];
}
const envelopeCases = vectorFiles('envelope').flatMap((file) =>
  (readJson(join(vectorsDirectory, file)) as Suite[]).flatMap((suite) =>
    suite.tests.map(
      (test) => [`${file}: ${suite.description} › ${test.description}`, suite.schema.$ref, test] as const,
    ),
  ),
);

describe('envelope vectors, independent validator', () => {
  it.each(envelopeCases)('%s', (_name, schema, test) => {
    expect(validatorFor(schema)(test.data)).toBe(test.valid);
  });
});

describe('codec vectors agree with the schema, independent validator', () => {
  // A decoded envelope must satisfy the schema; a schema_violation must be JSON the schema rejects.
  // (Every other error code is the codec's own rule, checked before the schema.)
  const cases = loadCodecVectors().filter(
    (vector) => 'envelope' in vector.expect || vector.expect.error === 'schema_violation',
  );
  it.each(cases.map((vector) => [vector.name, vector] as const))('%s', (_name, vector) => {
    const envelope = validatorFor(ENVELOPE);
    if ('envelope' in vector.expect) expect(envelope(vector.expect.envelope)).toBe(true);
    else expect(envelope(JSON.parse(new TextDecoder().decode(vector.bytes)))).toBe(false);
  });
});

describe('schema files, independent validator', () => {
  it.each([...vectorFiles('envelope'), ...vectorFiles('codec')])(
    'vector file %s follows vectors.schema.json',
    (file) => {
      expect(validatorFor(VECTORS)(readJson(join(vectorsDirectory, file)))).toBe(true);
    },
  );

  it('vectors.schema.json rejects a malformed codec case', () => {
    const bad = {
      description: 'x',
      cases: [
        { description: 'two inputs', input: '{}', input_base64: 'e30=', expect: { error: 'invalid_json' } },
      ],
    };
    expect(validatorFor(VECTORS)(bad)).toBe(false);
    const unknownCode = {
      description: 'x',
      cases: [{ description: 'y', input: '{}', expect: { error: 'oops' } }],
    };
    expect(validatorFor(VECTORS)(unknownCode)).toBe(false);
  });

  it.each([
    ['envelope.schema.json', ENVELOPE],
    ['dead-letter.schema.json', DEAD_LETTER],
  ])('every example in %s validates', (file, uri) => {
    const schema = readJson(join(schemasDirectory, file)) as { examples: unknown[] };
    expect(schema.examples.length).toBeGreaterThan(0);
    for (const example of schema.examples) expect(validatorFor(uri)(example)).toBe(true);
  });

  it('dead-letter: a description, with at most one of body and body_base64 (the record form)', () => {
    const record = {
      queue: 'events',
      error: { code: 'x', message: 'y' },
      attempts: 1,
      failed_at: '2026-01-01T00:00:00Z',
    };
    const deadLetter = validatorFor(DEAD_LETTER);
    expect(deadLetter({ ...record, body: '{}' })).toBe(true);
    expect(deadLetter({ ...record, body_base64: '/w==' })).toBe(true);
    expect(deadLetter({ ...record, body: '{}', body_base64: 'e30=' })).toBe(false);
    expect(deadLetter(record)).toBe(true);
    expect(deadLetter({ ...record, extra: 1 })).toBe(false);
  });
});
