import type { BulkItem, DispatchOptions } from '../context.js';
import { isEventClass, toJob } from '../event-class.js';

/** What one dispatch call asks for, whichever form it was written in. */
export interface DispatchRequest {
  name: string;
  payload: unknown;
  options: DispatchOptions;
}

/** `(name | EventClass, payload?)` or `(job)` → the event name and its payload (`{}` when left out). */
export function readTarget(target: unknown, payload: unknown): { name: string; payload: unknown } {
  if (typeof target === 'string') return { name: target, payload: payload === undefined ? {} : payload };
  if (isEventClass(target)) return { name: target.event, payload: payload === undefined ? {} : payload };
  const job = toJob(target);
  return { name: job.event, payload: job.payload };
}

/** `thrun.event(target, payload?, options?)` or `thrun.event(job, options?)`. */
export function readDispatchArgs(args: readonly unknown[]): DispatchRequest {
  const [first, second, third] = args;
  if (typeof first === 'string' || isEventClass(first)) {
    const { name, payload } = readTarget(first, second);
    return { name, payload, options: (third ?? {}) as DispatchOptions };
  }
  const { name, payload } = readTarget(first, undefined);
  return { name, payload, options: (second ?? {}) as DispatchOptions };
}

/** One item of `thrun.events([...])`: a job, with its options beside it. */
export function readBulkItem(item: BulkItem): DispatchRequest {
  const { name, payload } = readTarget(item, undefined);
  return { name, payload, options: (item as { options?: DispatchOptions }).options ?? {} };
}
