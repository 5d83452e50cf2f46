import { ValidationError } from '@thrun/contract';

/**
 * Checks that a payload is what the envelope can carry, without serializing it: a plain object
 * whose values are strings, finite numbers, booleans, null, arrays and plain objects, nested at
 * most `maxDepth` deep (which also stops cycles). The wire path gets the same guarantees from the
 * codec; this is the cheap check for in-process dispatch and for failing before anything is sent.
 */
export function assertPayload(payload: unknown, maxDepth: number): void {
  if (!isPlainObject(payload)) {
    throw new ValidationError(
      'invalid_payload',
      `[thrun:core] the payload must be a plain JSON object, got ${describe(payload)}`,
    );
  }
  // The envelope wraps the payload in one object, so the payload itself may use maxDepth - 1 levels.
  checkValue(payload, 2, maxDepth, '');
}

/** A shape check only: objects, not arrays or class instances. Used when validation is off. */
export function assertPayloadIsObject(payload: unknown): void {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    throw new ValidationError(
      'invalid_payload',
      `[thrun:core] the payload must be a plain JSON object, got ${describe(payload)}`,
    );
  }
}

function checkValue(value: unknown, depth: number, maxDepth: number, path: string): void {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) fail(path, `${value} is not a JSON number`);
      return;
    case 'object': {
      if (value === null) return;
      if (depth > maxDepth) {
        throw new ValidationError(
          'invalid_payload',
          `[thrun:core] the payload is nested deeper than ${maxDepth} levels (or holds a cycle) at ${path || '/'}`,
          { issues: [{ path, message: 'too deep' }] },
        );
      }
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) checkValue(value[i], depth + 1, maxDepth, `${path}/${i}`);
        return;
      }
      if (!isPlainObject(value)) fail(path, `${describe(value)} is not a plain object`);
      for (const key in value) {
        if (!Object.hasOwn(value, key)) continue;
        checkValue((value as Record<string, unknown>)[key], depth + 1, maxDepth, `${path}/${key}`);
      }
      return;
    }
    default:
      fail(path, `${typeof value} is not a JSON value`);
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function fail(path: string, message: string): never {
  throw new ValidationError('invalid_payload', `[thrun:core] invalid payload at ${path || '/'}: ${message}`, {
    issues: [{ path, message }],
  });
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return `an instance of ${value.constructor?.name ?? 'an unknown class'}`;
  return `a ${typeof value}`;
}
