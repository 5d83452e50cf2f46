import type { IHeaders } from 'kafkajs';

/**
 * Kafka record headers Thrun reads and writes. A message without any of them (a plain producer's,
 * a Go service's) is a first delivery for every group.
 */
export const HEADER = {
  /** The attempt this copy is delivered as; absent means 1. */
  attempt: 'thrun-attempt',
  /**
   * The one consumer group a retried copy is meant for. Every group reads the same topics, so a
   * copy one group republished for itself is skipped (and committed) by every other group.
   */
  group: 'thrun-group',
  /** On `<queue>.retry`: epoch milliseconds before which the copy must not be delivered. */
  dueAt: 'thrun-due-at',
  /**
   * On `<queue>.dead`: the group that gave up, and the reason beside the dead-letter record (which
   * carries it too). Not `thrun-group`: a dead letter is for every reader of the dead queue.
   */
  failedGroup: 'thrun-failed-group',
  errorCode: 'thrun-error-code',
  errorMessage: 'thrun-error-message',
  attempts: 'thrun-attempts',
} as const;

export function readHeader(headers: IHeaders | undefined, name: string): string | undefined {
  const value = headers?.[name];
  if (value === undefined) return undefined;
  const first = Array.isArray(value) ? value[0] : value;
  if (first === undefined) return undefined;
  return typeof first === 'string' ? first : first.toString('utf8');
}

/** A positive integer header, or `fallback` when absent or malformed (foreign producers set anything). */
export function readPositiveInt(headers: IHeaders | undefined, name: string, fallback: number): number {
  const text = readHeader(headers, name);
  if (text === undefined) return fallback;
  const value = Number(text);
  return Number.isSafeInteger(value) && value > 0 ? value : fallback;
}
