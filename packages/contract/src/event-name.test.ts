import { describe, expect, it } from 'vitest';
import { ValidationError } from './errors.js';
import { assertEventName, isEventName, isEventPattern, matchEventPattern } from './event-name.js';

describe('event names', () => {
  it.each(['order_created', 'order.success', 'billing.invoice-paid', 'go_message', 'a', 'v2.x'])(
    'accepts %s',
    (name) => expect(isEventName(name)).toBe(true),
  );

  it.each(['', 'Order', 'order..paid', '.order', 'order.', 'order created', 'ordér', 'a'.repeat(256), 'a/b'])(
    'rejects %j',
    (name) => expect(isEventName(name)).toBe(false),
  );

  it('throws a typed error naming the rule', () => {
    expect(() => assertEventName('Bad Name')).toThrowError(/invalid event name/);
    expect(() => assertEventName(42)).toThrowError(ValidationError);
    expect(() => assertEventName(42)).toThrowError(expect.objectContaining({ code: 'invalid_event_name' }));
    expect(() => assertEventName('order_created')).not.toThrow();
  });
});

describe('segment wildcards', () => {
  it.each([
    ['order.*', 'order.paid', true],
    ['order.*', 'order', false],
    ['order.*', 'order.paid.late', false],
    ['order.#', 'order', true],
    ['order.#', 'order.paid.late', true],
    ['#.paid', 'order.paid', true],
    ['#.paid', 'paid', true],
    ['#', 'anything.at.all', true],
    ['*.paid.#', 'order.paid', true],
    ['*.paid.#', 'order.unpaid', false],
    ['order_created', 'order_created', true],
    ['order_created', 'order_created.x', false],
    ['a.#.#.b', 'a.b', true],
  ])('%s matches %s: %s', (pattern, name, expected) => {
    expect(matchEventPattern(pattern, name)).toBe(expected);
  });

  it('rejects patterns with other metacharacters', () => {
    for (const pattern of ['order.*x', 'order.+', '(a|b)', 'a.**', ''])
      expect(isEventPattern(pattern)).toBe(false);
  });
});
