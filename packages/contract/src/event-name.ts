import { ValidationError } from './errors.js';

/**
 * Event names are the contract between runtimes: lowercase ASCII words joined by `.`, `_` or `-`
 * (`order_created`, `order.success`, `billing.invoice-paid`), at most 255 characters.
 * The same rule is `schemas/envelope.schema.json#/$defs/eventName`.
 */
export const MAX_EVENT_NAME_LENGTH = 255;

export function isEventName(name: unknown): name is string {
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_EVENT_NAME_LENGTH) return false;
  let previousWasSeparator = true; // no leading separator
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    const isWordChar = (c >= 97 && c <= 122) || (c >= 48 && c <= 57); // a-z 0-9
    if (isWordChar) {
      previousWasSeparator = false;
    } else if (c === 46 || c === 95 || c === 45) {
      // . _ -
      if (previousWasSeparator) return false;
      previousWasSeparator = true;
    } else {
      return false;
    }
  }
  return !previousWasSeparator; // no trailing separator
}

export function assertEventName(name: unknown): asserts name is string {
  if (!isEventName(name)) {
    throw new ValidationError(
      'invalid_event_name',
      `[thrun:contract] invalid event name ${describe(name)}: use lowercase a-z, 0-9 joined by '.', '_' or '-', at most ${MAX_EVENT_NAME_LENGTH} characters`,
    );
  }
}

/**
 * Queue names follow the event-name rule, so `<queue>.dead` and broker key prefixes stay valid everywhere.
 */
export function assertQueueName(name: unknown): asserts name is string {
  if (!isEventName(name)) {
    throw new ValidationError(
      'invalid_queue_name',
      `[thrun:contract] invalid queue name ${describe(name)}: use lowercase a-z, 0-9 joined by '.', '_' or '-'`,
    );
  }
}

/** The dead-letter queue of a queue. */
export function deadLetterQueueName(queue: string): string {
  return `${queue}.dead`;
}

/**
 * A subscription pattern: event-name segments split on `.`, where `*` stands for exactly one segment
 * and `#` for zero or more (`order.*` matches `order.paid`; `order.#` matches `order` and `order.a.b`).
 */
export function isEventPattern(pattern: unknown): pattern is string {
  if (typeof pattern !== 'string' || pattern.length === 0 || pattern.length > MAX_EVENT_NAME_LENGTH)
    return false;
  return pattern.split('.').every((segment) => segment === '*' || segment === '#' || isEventName(segment));
}

export function assertEventPattern(pattern: unknown): asserts pattern is string {
  if (!isEventPattern(pattern)) {
    throw new ValidationError(
      'invalid_event_name',
      `[thrun:contract] invalid event pattern ${describe(pattern)}: segments are event names, '*' (one segment) or '#' (any number)`,
    );
  }
}

export function isWildcardPattern(pattern: string): boolean {
  return pattern.split('.').some((segment) => segment === '*' || segment === '#');
}

/**
 * A compiled pattern. Matching walks segments; no regular expression is ever built from input.
 */
export function compileEventPattern(pattern: string): (eventName: string) => boolean {
  assertEventPattern(pattern);
  if (!isWildcardPattern(pattern)) return (eventName) => eventName === pattern;
  const patternSegments = pattern.split('.');
  return (eventName) => matchSegments(patternSegments, 0, eventName.split('.'), 0);
}

export function matchEventPattern(pattern: string, eventName: string): boolean {
  return compileEventPattern(pattern)(eventName);
}

function matchSegments(pattern: readonly string[], p: number, name: readonly string[], n: number): boolean {
  while (p < pattern.length) {
    const segment = pattern[p];
    if (segment === '#') {
      // Collapse consecutive '#'; then try every split point (bounded by the name's segment count).
      while (pattern[p + 1] === '#') p++;
      if (p === pattern.length - 1) return true;
      for (let skip = n; skip <= name.length; skip++) {
        if (matchSegments(pattern, p + 1, name, skip)) return true;
      }
      return false;
    }
    if (n >= name.length) return false;
    if (segment !== '*' && segment !== name[n]) return false;
    p++;
    n++;
  }
  return n === name.length;
}

function describe(value: unknown): string {
  if (typeof value !== 'string') return `(${typeof value})`;
  return JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value);
}
