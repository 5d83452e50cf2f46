import type { DeadLetterRecord } from './dead-letter.js';
import type { Envelope } from './envelope.js';
import { ValidationError, type ValidationIssue } from './errors.js';
import * as generated from './generated/validators.js';

/**
 * Validators for the bundled schemas, compiled to plain functions at build time
 * (`scripts/generate.mjs`): importing this module compiles nothing, and only the package's own
 * schema files were ever compiled.
 */

interface AjvError {
  instancePath: string;
  keyword: string;
  params: Record<string, unknown>;
  message?: string;
}
type CompiledValidator = ((value: unknown) => boolean) & { errors?: AjvError[] | null };

const envelopeValidator = generated.validateEnvelope as CompiledValidator;
const deadLetterValidator = generated.validateDeadLetterRecord as CompiledValidator;

/** Does `value` follow `schemas/envelope.schema.json`? */
export function isValidEnvelope(value: unknown): value is Envelope {
  return envelopeValidator(value);
}

/**
 * Checks `value` against `schemas/envelope.schema.json`. Throws `ValidationError('schema_violation')`
 * whose `issues` point (JSON Pointer) at every offending value; for a missing or an unknown key, the
 * pointer names that key.
 */
export function validateEnvelope(value: unknown): asserts value is Envelope {
  if (!envelopeValidator(value)) throw schemaViolation('envelope', envelopeValidator.errors);
}

/** Does `value` follow `schemas/dead-letter.schema.json`? */
export function isValidDeadLetterRecord(value: unknown): value is DeadLetterRecord {
  return deadLetterValidator(value);
}

/** Checks `value` against `schemas/dead-letter.schema.json`, like `validateEnvelope`. */
export function validateDeadLetterRecord(value: unknown): asserts value is DeadLetterRecord {
  if (!deadLetterValidator(value)) throw schemaViolation('dead-letter record', deadLetterValidator.errors);
}

function schemaViolation(what: string, errors: readonly AjvError[] | null | undefined): ValidationError {
  const issues = (errors ?? []).map(toIssue);
  const shown = issues.slice(0, 3).map((issue) => `${issue.path || '(root)'} ${issue.message}`);
  const more = issues.length > shown.length ? ` (and ${issues.length - shown.length} more)` : '';
  return new ValidationError(
    'schema_violation',
    `[thrun:contract] invalid ${what}: ${shown.join('; ')}${more}`,
    { issues },
  );
}

function toIssue(error: AjvError): ValidationIssue {
  if (error.keyword === 'required' && typeof error.params.missingProperty === 'string') {
    return {
      path: `${error.instancePath}/${escapePointer(error.params.missingProperty)}`,
      message: 'is required',
    };
  }
  if (error.keyword === 'additionalProperties' && typeof error.params.additionalProperty === 'string') {
    return {
      path: `${error.instancePath}/${escapePointer(error.params.additionalProperty)}`,
      message: 'is not allowed here (extensions belong in meta)',
    };
  }
  return { path: error.instancePath, message: error.message ?? `fails ${error.keyword}` };
}

function escapePointer(key: string): string {
  return key.replaceAll('~', '~0').replaceAll('/', '~1');
}
