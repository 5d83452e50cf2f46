import { ValidationError } from '@thrun/contract';

/**
 * Checks that a payload is what the envelope can carry, without serializing it: a plain object
 * whose values are strings, finite numbers (integers within ±(2^53−1)), booleans, null, arrays and
 * plain objects (a property set to `undefined` is left out, as on the wire), without `__proto__` keys, nested at most `maxDepth` deep (which also stops cycles). The wire path gets the same guarantees from the
 * codec; this is the cheap check for in-process dispatch and for failing before anything is sent.
 */
export function assertPayload(payload: unknown, maxDepth: number): void {
  // The envelope wraps the payload in one object, so the payload itself may use maxDepth - 1 levels.
  // The walk checks the root's prototype too: a valid payload costs one walk and one prototype read
  // per object; only a failing one is looked at again, to say what is wrong.
  if (
    typeof payload === 'object' &&
    payload !== null &&
    !Array.isArray(payload) &&
    isValidObject(payload, 2, maxDepth)
  ) {
    return;
  }
  if (!isPlainObject(payload)) {
    throw new ValidationError(
      'invalid_payload',
      `[thrun:core] the payload must be a plain JSON object, got ${describe(payload)}`,
    );
  }
  explain(payload, 2, maxDepth, '');
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

/**
 * The fast walk over a non-array object: no path strings, no allocation, primitives checked inline.
 * Returns false on the first problem; `explain` then builds a precise message, so only a failing
 * dispatch pays for paths. Objects and arrays have a walker each, so each loop sees one kind of
 * container, and values are tested most common first (strings, numbers, then the rest). The value
 * tests are written out in both walkers: one shared helper for them measured slower.
 */
function isValidObject(value: object, depth: number, maxDepth: number): boolean {
  if (depth > maxDepth) return false;
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return false;
  for (const key in value) {
    if (key === '__proto__') return false;
    const item: unknown = (value as Record<string, unknown>)[key];
    if (typeof item === 'string') continue;
    if (typeof item === 'number') {
      if (isJsonNumber(item)) continue;
      return false;
    }
    if (typeof item === 'object') {
      if (item === null || isValidChild(item, depth + 1, maxDepth)) continue;
      return false;
    }
    // Left out on the wire, as JSON.stringify (and the codec) do: optional fields stay natural.
    if (item === undefined || typeof item === 'boolean') continue;
    return false;
  }
  return true;
}

/** The array walker: as `isValidObject`, where an `undefined` item is an error (JSON has no holes). */
function isValidArray(value: readonly unknown[], depth: number, maxDepth: number): boolean {
  if (depth > maxDepth) return false;
  for (let i = 0; i < value.length; i++) {
    const item = value[i];
    if (typeof item === 'string') continue;
    if (typeof item === 'number') {
      if (isJsonNumber(item)) continue;
      return false;
    }
    if (typeof item === 'object') {
      if (item === null || isValidChild(item, depth + 1, maxDepth)) continue;
      return false;
    }
    if (typeof item === 'boolean') continue;
    return false;
  }
  return true;
}

function isValidChild(value: object, depth: number, maxDepth: number): boolean {
  return Array.isArray(value) ? isValidArray(value, depth, maxDepth) : isValidObject(value, depth, maxDepth);
}

/**
 * Finite, and an integer only within ±(2^53−1), which every runtime reads back exactly (as the codec
 * requires). Safe integers, the common case, are answered by the first test.
 */
function isJsonNumber(value: number): boolean {
  return Number.isSafeInteger(value) || (value - value === 0 && !Number.isInteger(value));
}

function explain(value: unknown, depth: number, maxDepth: number, path: string): void {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return;
    case 'number':
      if (!isJsonNumber(value)) fail(path, `${value} is not finite or not a safe integer`);
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
        for (let i = 0; i < value.length; i++) explain(value[i], depth + 1, maxDepth, `${path}/${i}`);
        return;
      }
      if (!isPlainObject(value)) fail(path, `${describe(value)} is not a plain object`);
      for (const key in value) {
        if (key === '__proto__') fail(`${path}/__proto__`, 'a __proto__ key is forbidden');
        if ((value as Record<string, unknown>)[key] === undefined) continue;
        explain((value as Record<string, unknown>)[key], depth + 1, maxDepth, `${path}/${key}`);
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
