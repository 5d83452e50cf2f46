/**
 * Exponential backoff with jitter, shared by the worker's retries and the transports' reconnects.
 *
 * Attempt 1 waits `baseMs`, each next attempt doubles it, capped at `maxMs`. `jitter: 'full'` picks
 * uniformly in `[delay/2, delay]` so retries of many messages spread out but never come back sooner
 * than half the computed delay; `'none'` is deterministic.
 */
export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
  jitter?: 'none' | 'full';
}

export function backoffDelayMs(
  attempt: number,
  options: BackoffOptions,
  random: () => number = Math.random,
): number {
  const exponent = Math.max(0, Math.min(attempt - 1, 52));
  const delay = Math.min(options.maxMs, options.baseMs * 2 ** exponent);
  if (options.jitter === 'none') return delay;
  return Math.round(delay / 2 + random() * (delay / 2));
}

/**
 * Between tries of a settlement the broker refused (a dead queue rejecting writes, a lost
 * connection): 100 ms doubling to 5 s, jittered, so a refusal that lasts costs a few requests a second
 * however many deliveries wait on it. Core's worker and the transports use the same pace.
 */
export const REFUSED_SETTLEMENT_BACKOFF: Readonly<BackoffOptions> = Object.freeze({
  baseMs: 100,
  maxMs: 5_000,
  jitter: 'full',
});
