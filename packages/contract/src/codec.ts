import type { Envelope } from './envelope.js';
import { DecodeError, type DecodeErrorCode, PayloadTooLargeError, ValidationError } from './errors.js';
import { validateEnvelope } from './validators.js';

/**
 * The safe codec: the only way bytes from outside become an `Envelope`, and back.
 *
 * Decoding checks, in this order, so that the cheapest check rejects first and nothing big is ever
 * parsed: size (before reading a byte), strict UTF-8, then JSON parsing that refuses what hostile input
 * hides (duplicate keys, `__proto__` keys, nesting beyond `maxDepth`, integers a double cannot hold,
 * anything after the value), then the envelope schema. Parsing is the native `JSON.parse` when a cheap
 * check proves none of those is present, and otherwise a strict parser that decides and names the error. Those rules are the codec vectors in
 * `schemas/vectors/codec/`, which every runtime's codec runs.
 */
export interface CodecLimits {
  /** Largest encoded envelope, in bytes. Default: 1 MiB. */
  maxBytes?: number;
  /** Deepest nesting of objects and arrays in the whole envelope, the envelope being 1. Default: 64. */
  maxDepth?: number;
}

export const DEFAULT_MAX_BYTES = 1024 * 1024;
export const DEFAULT_MAX_DEPTH = 64;

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const utf8 = new TextEncoder();

/**
 * Bytes → a validated envelope whose objects have no prototype.
 *
 * Throws `PayloadTooLargeError` (`payload_too_large`), `DecodeError` (`invalid_utf8`, `invalid_json`,
 * `duplicate_key`, `forbidden_key`, `too_deep`, `unsafe_integer`) or `ValidationError`
 * (`schema_violation`, with `issues`). Never throws anything else, and never recurses: a 10,000-deep
 * input is rejected at depth `maxDepth + 1` without growing the stack.
 *
 * A UTF-8 byte order mark is not skipped (`invalid_json`): producers must not write one (RFC 8259 §8.1).
 * A `\u` escape of a lone surrogate is `invalid_json`: it could not be written back as UTF-8.
 * A number token without fraction or exponent outside ±(2^53−1), or any number beyond a double's
 * range, is `unsafe_integer`: rounding an id silently would lose data; send such ids as strings.
 */
export function decodeEnvelope(bytes: Uint8Array, limits: CodecLimits = {}): Envelope {
  const maxBytes = limits.maxBytes ?? DEFAULT_MAX_BYTES;
  if (bytes.byteLength > maxBytes) {
    throw new PayloadTooLargeError(
      'payload_too_large',
      `[thrun:contract] message of ${bytes.byteLength} bytes exceeds the limit of ${maxBytes}`,
    );
  }
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch (cause) {
    throw new DecodeError('invalid_utf8', '[thrun:contract] message is not valid UTF-8', { cause });
  }
  const value = parseJson(text, limits.maxDepth ?? DEFAULT_MAX_DEPTH);
  validateEnvelope(value);
  return value;
}

/**
 * An envelope → its UTF-8 JSON bytes, which `decodeEnvelope` accepts by construction.
 *
 * Throws `ValidationError('invalid_payload')`, naming the JSON Pointer of the value, for what JSON
 * cannot carry faithfully: functions, symbols, `BigInt`, `undefined` in an array (or a hole), `NaN`
 * and `±Infinity`, integers outside ±(2^53−1), cycles, nesting beyond `maxDepth`, a `__proto__` key,
 * and objects that are not plain (`Date`, `Map`, `Set`, class instances, typed arrays, boxed
 * primitives): `JSON.stringify` would turn those into `{}`, `null` or a string, silently. Convert them
 * first (`date.toISOString()`, `Object.fromEntries(map)`). Object properties whose value is
 * `undefined` are left out, as `JSON.stringify` does, so optional fields can be written naturally.
 * Then `ValidationError('schema_violation')` when the envelope breaks the schema, and
 * `PayloadTooLargeError` past `maxBytes`.
 */
export function encodeEnvelope(envelope: Envelope, limits: CodecLimits = {}): Uint8Array {
  const maxBytes = limits.maxBytes ?? DEFAULT_MAX_BYTES;
  checkEncodable(envelope, limits.maxDepth ?? DEFAULT_MAX_DEPTH);
  validateEnvelope(envelope);
  const json = JSON.stringify(envelope);
  // Every UTF-16 unit is at least one UTF-8 byte: a string this long cannot fit, so skip encoding it.
  if (json.length > maxBytes) throw tooLargeToEncode(`more than ${maxBytes}`, maxBytes);
  const bytes = utf8.encode(json);
  if (bytes.byteLength > maxBytes) throw tooLargeToEncode(String(bytes.byteLength), maxBytes);
  return bytes;
}

function tooLargeToEncode(size: string, maxBytes: number): PayloadTooLargeError {
  return new PayloadTooLargeError(
    'payload_too_large',
    `[thrun:contract] envelope of ${size} bytes exceeds the limit of ${maxBytes}`,
  );
}

// ---------------------------------------------------------------------------------------------------
// Encoding checks

function checkEncodable(root: unknown, maxDepth: number): void {
  const ancestors = new Set<object>();
  const path: (string | number)[] = [];
  const invalid = (problem: string): ValidationError => {
    const pointer = path.map((segment) => `/${escapePointer(String(segment))}`).join('');
    return new ValidationError(
      'invalid_payload',
      `[thrun:contract] cannot encode ${pointer || '(root)'}: ${problem}`,
      { issues: [{ path: pointer, message: problem }] },
    );
  };
  // Recursion is bounded by `maxDepth`: deeper values are rejected before descending further.
  const visit = (value: unknown, depth: number): void => {
    switch (typeof value) {
      case 'string':
      case 'boolean':
        return;
      case 'number':
        if (!Number.isFinite(value)) throw invalid(`${value} is not a JSON number`);
        if (Number.isInteger(value) && !Number.isSafeInteger(value)) {
          throw invalid(`${value} is outside ±(2^53−1); send it as a string`);
        }
        return;
      case 'object':
        break;
      case 'undefined':
        throw invalid('undefined is not a JSON value');
      default:
        throw invalid(`a ${typeof value} is not a JSON value`);
    }
    if (value === null) return;
    if (depth > maxDepth) throw invalid(`nesting deeper than ${maxDepth}`);
    if (ancestors.has(value)) throw invalid('a cycle');
    ancestors.add(value);
    if (Array.isArray(value)) {
      for (let index = 0; index < value.length; index++) {
        path.push(index);
        visit(value[index], depth + 1);
        path.pop();
      }
    } else {
      const prototype = Object.getPrototypeOf(value);
      if (prototype !== Object.prototype && prototype !== null) {
        const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
        throw invalid(
          `${typeof name === 'string' && name ? `a ${name}` : 'an object with a prototype'} is not a plain object`,
        );
      }
      for (const key of Object.keys(value)) {
        path.push(key);
        if (key === '__proto__') throw invalid('the key __proto__ is forbidden');
        const child = (value as Record<string, unknown>)[key];
        if (child !== undefined) visit(child, depth + 1);
        path.pop();
      }
    }
    ancestors.delete(value);
  };
  visit(root, 1);
}

function escapePointer(key: string): string {
  return key.replaceAll('~', '~0').replaceAll('/', '~1');
}

// ---------------------------------------------------------------------------------------------------
// Parsing: the native `JSON.parse` when a cheap check proves it agrees with the strict parser below,
// which otherwise decides (and names the error). Both share the grammar of RFC 8259; the native one is
// blind to duplicate keys, `__proto__`, depth, unsafe integers and lone surrogate escapes, so the fast
// path gives up on anything that could hide one of those.

type JsonContainer = Record<string, unknown> | unknown[];

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

// Any `\u` escape of a surrogate, paired or not: rare enough that the strict parser can judge them all.
const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;

function parseJson(text: string, maxDepth: number): unknown {
  const value = parseNative(text, maxDepth);
  return value === undefined ? parseStrict(text, maxDepth) : value;
}

/**
 * `JSON.parse`, then one walk that strips prototypes and checks depth, `__proto__` and number range,
 * and a count of the members written in the text against those the objects kept (a duplicate key
 * leaves one fewer). Returns `undefined`, never a JSON value, when the strict parser must decide.
 */
function parseNative(text: string, maxDepth: number): unknown {
  if (text.indexOf('\\u') !== -1 && SURROGATE_ESCAPE.test(text)) return undefined;
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof root !== 'object' || root === null) {
    return typeof root === 'number' && (root > MAX_SAFE || root < -MAX_SAFE) ? undefined : root;
  }
  let members = 0;
  // Containers still to visit, each followed by its depth.
  const pending: (object | number)[] = [root, 1];
  while (pending.length > 0) {
    const depth = pending.pop() as number;
    const container = pending.pop() as Record<string, unknown> | unknown[];
    if (depth > maxDepth) return undefined;
    if (Array.isArray(container)) {
      for (let index = 0; index < container.length; index++) {
        const child = container[index];
        if (typeof child === 'object') {
          if (child !== null) pending.push(child, depth + 1);
        } else if (typeof child === 'number' && (child > MAX_SAFE || child < -MAX_SAFE)) {
          return undefined;
        }
      }
    } else {
      // First, so that `for…in` sees own keys only, even if `Object.prototype` was polluted. `for…in`
      // rather than `Object.keys`: it allocates no array of keys.
      Object.setPrototypeOf(container, null);
      for (const key in container) {
        members++;
        if (key === '__proto__') return undefined;
        const child = container[key];
        if (typeof child === 'object') {
          if (child !== null) pending.push(child, depth + 1);
        } else if (typeof child === 'number' && (child > MAX_SAFE || child < -MAX_SAFE)) {
          return undefined;
        }
      }
    }
  }
  // Colons inside strings only cost time: past two per member kept, counting exactly is cheaper.
  const colons = countColonsAfterQuotes(text, 2 * members + 8);
  return members === colons || members === countMembers(text) ? root : undefined;
}

/**
 * An upper bound of the object members written in a valid JSON text, cheap to take: its colons
 * preceded (whitespace aside) by a quote. Every member's colon is one; a colon inside a string may
 * be one too (`":x"`), never fewer. So when the objects kept as many members, none was a duplicate.
 * Returns -1 after looking at `maxColons` colons.
 */
function countColonsAfterQuotes(text: string, maxColons: number): number {
  let colons = 0;
  let at = text.indexOf(':');
  for (let seen = 0; at !== -1; seen++) {
    if (seen === maxColons) return -1;
    let before = at - 1;
    let c = text.charCodeAt(before);
    while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = text.charCodeAt(--before);
    if (c === 0x22) colons++;
    at = text.indexOf(':', at + 1);
  }
  return colons;
}

/**
 * The object members written in a valid JSON text, exactly: its strings followed by a colon. Jumps
 * from quote to quote, so long strings cost one native search each.
 */
function countMembers(text: string): number {
  let members = 0;
  let open = text.indexOf('"');
  while (open !== -1) {
    let close = text.indexOf('"', open + 1);
    while (isEscaped(text, close)) close = text.indexOf('"', close + 1);
    let next = close + 1;
    let c = text.charCodeAt(next);
    while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = text.charCodeAt(++next);
    if (c === 0x3a) members++;
    open = text.indexOf('"', next);
  }
  return members;
}

/** Is the quote at `at` escaped, that is preceded by an odd number of backslashes? */
function isEscaped(text: string, at: number): boolean {
  let backslashes = 0;
  while (text.charCodeAt(at - 1 - backslashes) === 0x5c) backslashes++;
  return (backslashes & 1) === 1;
}

/** The strict parser: one pass over the decoded text, an explicit stack instead of recursion. */
function parseStrict(text: string, maxDepth: number): unknown {
  const length = text.length;
  let i = 0;
  // Open containers, innermost last, and for objects the key awaiting its value.
  const containers: JsonContainer[] = [];
  const pendingKeys: string[] = [];
  const fail = (code: DecodeErrorCode, problem: string): never => {
    throw new DecodeError(code, `[thrun:contract] ${problem} at offset ${i}`);
  };
  const unexpected = (): never =>
    fail('invalid_json', i >= length ? 'unexpected end of JSON' : `unexpected ${describeChar(text, i)}`);

  const skipWhitespace = (): void => {
    while (i < length) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
      else break;
    }
  };

  const parseString = (): string => {
    // `i` is on the opening quote. Fast path: no escape before the closing quote.
    const start = ++i;
    while (i < length) {
      const c = text.charCodeAt(i);
      if (c === 0x22) return text.slice(start, i++);
      if (c === 0x5c) break;
      if (c < 0x20) fail('invalid_json', 'unescaped control character in a string');
      i++;
    }
    let result = text.slice(start, i);
    let chunkStart = i;
    while (i < length) {
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        result += text.slice(chunkStart, i++);
        return result;
      }
      if (c < 0x20) fail('invalid_json', 'unescaped control character in a string');
      if (c !== 0x5c) {
        i++;
        continue;
      }
      result += text.slice(chunkStart, i);
      const escaped = text.charCodeAt(i + 1);
      switch (escaped) {
        case 0x22:
          result += '"';
          break;
        case 0x5c:
          result += '\\';
          break;
        case 0x2f:
          result += '/';
          break;
        case 0x62:
          result += '\b';
          break;
        case 0x66:
          result += '\f';
          break;
        case 0x6e:
          result += '\n';
          break;
        case 0x72:
          result += '\r';
          break;
        case 0x74:
          result += '\t';
          break;
        case 0x75: {
          const unit = readHex4(text, i + 2);
          if (unit < 0) fail('invalid_json', 'invalid \\u escape');
          if (unit >= 0xd800 && unit <= 0xdbff) {
            // A high surrogate must be followed by an escaped low surrogate.
            const low =
              text.charCodeAt(i + 6) === 0x5c && text.charCodeAt(i + 7) === 0x75 ? readHex4(text, i + 8) : -1;
            if (low < 0xdc00 || low > 0xdfff) fail('invalid_json', 'lone surrogate in a \\u escape');
            result += String.fromCharCode(unit, low);
            i += 6;
          } else if (unit >= 0xdc00 && unit <= 0xdfff) {
            fail('invalid_json', 'lone surrogate in a \\u escape');
          } else {
            result += String.fromCharCode(unit);
          }
          i += 4;
          break;
        }
        default:
          i++;
          fail('invalid_json', 'invalid escape in a string');
      }
      i += 2;
      chunkStart = i;
    }
    return fail('invalid_json', 'unterminated string');
  };

  const parseNumber = (): number => {
    const start = i;
    let c = text.charCodeAt(i);
    if (c === 0x2d) c = text.charCodeAt(++i); // -
    if (c === 0x30) {
      c = text.charCodeAt(++i);
      if (c >= 0x30 && c <= 0x39) fail('invalid_json', 'leading zero in a number');
    } else if (c >= 0x31 && c <= 0x39) {
      do c = text.charCodeAt(++i);
      while (c >= 0x30 && c <= 0x39);
    } else {
      unexpected();
    }
    let isInteger = true;
    if (c === 0x2e) {
      isInteger = false;
      c = text.charCodeAt(++i);
      if (!(c >= 0x30 && c <= 0x39)) unexpected();
      do c = text.charCodeAt(++i);
      while (c >= 0x30 && c <= 0x39);
    }
    if (c === 0x65 || c === 0x45) {
      isInteger = false;
      c = text.charCodeAt(++i);
      if (c === 0x2b || c === 0x2d) c = text.charCodeAt(++i);
      if (!(c >= 0x30 && c <= 0x39)) unexpected();
      do c = text.charCodeAt(++i);
      while (c >= 0x30 && c <= 0x39);
    }
    const value = Number(text.slice(start, i));
    if (isInteger ? value > MAX_SAFE || value < -MAX_SAFE : !Number.isFinite(value)) {
      i = start;
      fail(
        'unsafe_integer',
        isInteger ? 'integer outside ±(2^53−1)' : 'number outside the range of a double',
      );
    }
    return value;
  };

  const expectLiteral = (literal: string): void => {
    if (text.startsWith(literal, i)) i += literal.length;
    else unexpected();
  };

  // Reads an object key and its colon, leaving `i` at the value.
  const parseKey = (object: Record<string, unknown>): void => {
    if (text.charCodeAt(i) !== 0x22) unexpected();
    const keyStart = i;
    const key = parseString();
    if (key === '__proto__') {
      i = keyStart;
      fail('forbidden_key', 'forbidden key "__proto__"');
    }
    if (key in object) {
      i = keyStart;
      fail(
        'duplicate_key',
        `duplicate key ${JSON.stringify(key.length > 64 ? `${key.slice(0, 64)}…` : key)}`,
      );
    }
    skipWhitespace();
    if (text.charCodeAt(i) !== 0x3a) unexpected();
    i++;
    pendingKeys.push(key);
  };

  for (;;) {
    // Read one value; a container is opened and the loop continues with its first member.
    let value: unknown;
    let opened = false;
    skipWhitespace();
    const c = text.charCodeAt(i);
    if (c === 0x7b || c === 0x5b) {
      if (containers.length >= maxDepth) fail('too_deep', `nesting deeper than ${maxDepth}`);
      i++;
      skipWhitespace();
      if (c === 0x7b) {
        const object: Record<string, unknown> = Object.create(null);
        if (text.charCodeAt(i) === 0x7d) {
          i++;
          value = object;
        } else {
          containers.push(object);
          parseKey(object);
          opened = true;
        }
      } else if (text.charCodeAt(i) === 0x5d) {
        i++;
        value = [];
      } else {
        containers.push([]);
        opened = true;
      }
      if (opened) continue;
    } else if (c === 0x22) {
      value = parseString();
    } else if ((c >= 0x30 && c <= 0x39) || c === 0x2d) {
      value = parseNumber();
    } else if (c === 0x74) {
      expectLiteral('true');
      value = true;
    } else if (c === 0x66) {
      expectLiteral('false');
      value = false;
    } else if (c === 0x6e) {
      expectLiteral('null');
      value = null;
    } else {
      unexpected();
    }

    // Attach the value, then close every container that ends here.
    for (;;) {
      const parent = containers[containers.length - 1];
      if (parent === undefined) {
        skipWhitespace();
        if (i < length) fail('invalid_json', `unexpected ${describeChar(text, i)} after the JSON value`);
        return value;
      }
      skipWhitespace();
      const next = text.charCodeAt(i);
      if (Array.isArray(parent)) {
        parent.push(value);
        if (next === 0x2c) {
          i++;
          break;
        }
        if (next !== 0x5d) unexpected();
      } else {
        parent[pendingKeys.pop() as string] = value;
        if (next === 0x2c) {
          i++;
          skipWhitespace();
          parseKey(parent);
          break;
        }
        if (next !== 0x7d) unexpected();
      }
      i++;
      value = containers.pop();
    }
  }
}

function readHex4(text: string, at: number): number {
  let unit = 0;
  for (let k = at; k < at + 4; k++) {
    const c = text.charCodeAt(k);
    let digit: number;
    if (c >= 0x30 && c <= 0x39) digit = c - 0x30;
    else if (c >= 0x61 && c <= 0x66) digit = c - 0x57;
    else if (c >= 0x41 && c <= 0x46) digit = c - 0x37;
    else return -1;
    unit = unit * 16 + digit;
  }
  return unit;
}

function describeChar(text: string, at: number): string {
  const c = text.codePointAt(at) ?? 0;
  return c >= 0x20 && c < 0x7f
    ? `'${String.fromCharCode(c)}'`
    : `U+${c.toString(16).toUpperCase().padStart(4, '0')}`;
}
