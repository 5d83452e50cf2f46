/**
 * The batch protocol's schemas (schemas/batch-*.schema.json) against their vectors, with the same
 * independent validator that checks the envelope schema.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { registerSchema, validate } from '@hyperjump/json-schema/draft-2020-12';
import { beforeAll, describe, expect, it } from 'vitest';
import { schemasDirectory, vectorsDirectory } from '../vectors.js';

interface Suite {
  description: string;
  schema: { $ref: string };
  tests: { description: string; data: unknown; valid: boolean }[];
}

const readJson = (path: string): unknown => JSON.parse(readFileSync(path, 'utf8'));
const batchSchemas = readdirSync(schemasDirectory).filter((name) => /^batch-.*\.schema\.json$/.test(name));
const suites = readdirSync(join(vectorsDirectory, 'batch'))
  .filter((name) => name.endsWith('.json'))
  .flatMap((name) => readJson(join(vectorsDirectory, 'batch', name)) as Suite[]);

beforeAll(() => {
  for (const name of batchSchemas) {
    registerSchema(readJson(join(schemasDirectory, name)) as Parameters<typeof registerSchema>[0]);
  }
});

describe('batch schemas', () => {
  it('ship every lifecycle payload, meta.batch and the step report', () => {
    expect(batchSchemas.sort()).toEqual([
      'batch-catch.schema.json',
      'batch-finally.schema.json',
      'batch-meta.schema.json',
      'batch-progress.schema.json',
      'batch-step-report.schema.json',
      'batch-then.schema.json',
    ]);
  });

  for (const suite of suites) {
    describe(suite.description, () => {
      it.each(suite.tests.map((test) => [test.description, test] as const))('%s', async (_, test) => {
        const output = await validate(suite.schema.$ref, test.data as Parameters<typeof validate>[1]);
        expect(output.valid).toBe(test.valid);
      });
    });
  }
});
