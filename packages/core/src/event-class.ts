import { assertEventName, type JsonObject, ValidationError } from '@thrun/contract';

/**
 * An event class: sugar for a contract name. Its static `event` is the stable string that goes on the
 * wire; the class name never does, so renaming or minifying a class changes nothing.
 *
 * ```ts
 * class UserCreated { static readonly event = 'user_created'; }
 * await thrun.event(UserCreated, { user_id: 1 });
 * ```
 *
 * An instance of such a class is a job and carries its payload: its `payload` property (what
 * `ThrunJob`'s constructor keeps), or else its own fields. So `new CreatePayment({ order_id: 1 })` is
 * the job `{ event: 'create_payment', payload: { order_id: 1 } }`.
 */
export interface EventClass {
  readonly event: string;
  // biome-ignore lint/suspicious/noExplicitAny: any constructor signature is fine; only the static name is read.
  new (...args: any[]): unknown;
}

/** A name, or a class whose static `event` is the name. */
export type EventTarget = string | EventClass;

/** What a job is once resolved: a name and a payload, nothing executable. */
export interface Job<Payload extends JsonObject = JsonObject> {
  event: string;
  payload: Payload;
}

/**
 * The base class for job classes: `class CreatePayment extends ThrunJob<{ order_id: number }> {
 * static readonly event = 'create_payment' }`. Subclasses need no constructor.
 */
export class ThrunJob<Payload extends object = JsonObject> {
  readonly payload: Payload;
  constructor(payload: Payload = {} as Payload) {
    this.payload = payload;
  }
}

export function isEventClass(value: unknown): value is EventClass {
  return typeof value === 'function' && typeof (value as { event?: unknown }).event === 'string';
}

/** The contract name of a name or an event class. Throws `ValidationError('invalid_event_name')`. */
export function eventNameOf(target: EventTarget): string {
  const name = typeof target === 'string' ? target : isEventClass(target) ? target.event : target;
  assertEventName(name);
  return name;
}

/**
 * Resolves a job: `{ event, payload }` as given, or an instance of an event class (its constructor's
 * static `event`, its `payload` property). Throws `ValidationError` for anything else.
 */
export function toJob(job: unknown): Job {
  if (typeof job !== 'object' || job === null) {
    throw new ValidationError(
      'invalid_payload',
      '[thrun:core] a job is {event, payload} or an event class instance',
    );
  }
  const ctor = (job as { constructor?: unknown }).constructor;
  if (isEventClass(ctor)) {
    assertEventName(ctor.event);
    // A `payload` property (as `ThrunJob` keeps it) is the payload; otherwise the instance's own fields are.
    const payload = 'payload' in job ? (job as { payload: unknown }).payload : { ...job };
    return { event: ctor.event, payload: payload as JsonObject };
  }
  const { event, payload } = job as { event?: unknown; payload?: unknown };
  const name = isEventClass(event) ? event.event : event;
  assertEventName(name);
  return { event: name, payload: (payload === undefined ? {} : payload) as JsonObject };
}
