/** A promise or any object with a `then` method: what `await` would wait for. */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== undefined && typeof (value as PromiseLike<unknown> | null)?.then === 'function';
}
