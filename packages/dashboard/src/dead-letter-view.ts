import { matchEventPattern } from '@thrun/contract';
import type { DeadLetterEntry } from '@thrun/core';

/** What the page may search dead letters by; every field optional, all given must match. */
export interface DeadLetterFilter {
  /** An event name or pattern (`order.*`). */
  event?: string;
  /** A reason code, exactly (`max_attempts`). */
  reason?: string;
  /** Text anywhere in the original bytes or the reason's message, case-insensitive. */
  text?: string;
  /** Only these positions. */
  positions?: number[];
}

const decoder = new TextDecoder('utf-8', { fatal: false });

export function matchesFilter(entry: DeadLetterEntry, filter: DeadLetterFilter): boolean {
  if (filter.positions && !filter.positions.includes(entry.position)) return false;
  if (filter.reason && entry.error.code !== filter.reason) return false;
  if (filter.event) {
    const name = entry.envelope?.event;
    if (name === undefined) return false;
    if (!(name === filter.event || safeMatch(filter.event, name))) return false;
  }
  if (filter.text) {
    const needle = filter.text.toLowerCase();
    const haystack = `${decoder.decode(entry.body)}\n${entry.error.message}`.toLowerCase();
    if (!haystack.includes(needle)) return false;
  }
  return true;
}

function safeMatch(pattern: string, name: string): boolean {
  try {
    return matchEventPattern(pattern, name);
  } catch {
    return false; // not a valid pattern: only an exact name can match
  }
}

/** A dead letter as the page receives it: JSON-safe, the bytes as text and base64. */
export function summarize(entry: DeadLetterEntry) {
  return {
    position: entry.position,
    queue: entry.queue,
    event: entry.envelope?.event ?? null,
    reason: entry.error,
    attempts: entry.attempts,
    failedAt: entry.failedAt,
    sizeBytes: entry.body.byteLength,
  };
}

export function detail(entry: DeadLetterEntry) {
  return {
    ...summarize(entry),
    form: entry.form,
    bodyText: decoder.decode(entry.body),
    bodyBase64: Buffer.from(entry.body).toString('base64'),
    envelope: entry.envelope ?? null,
  };
}

/** Reads a filter from untrusted JSON or query values; anything malformed is ignored, not thrown. */
export function parseFilter(input: Record<string, unknown>): DeadLetterFilter {
  const filter: DeadLetterFilter = {};
  const text = (value: unknown) =>
    typeof value === 'string' && value.length > 0 ? value.slice(0, 500) : undefined;
  const event = text(input.event);
  const reason = text(input.reason);
  const search = text(input.text);
  if (event) filter.event = event;
  if (reason) filter.reason = reason;
  if (search) filter.text = search;
  if (Array.isArray(input.positions)) {
    filter.positions = input.positions.filter((p): p is number => Number.isInteger(p) && p >= 0);
  }
  return filter;
}
