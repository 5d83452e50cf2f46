import { PROTOCOL_HEADERS } from '@thrun/contract';
import type { IHeaders } from 'kafkajs';

/**
 * Kafka record headers Thrun reads and writes; `protocol/headers.json` (`kafka`) gives each one's
 * meaning and value format. A message without any of them (a plain producer's, a Go service's) is a
 * first delivery for every group.
 */
export const HEADER = PROTOCOL_HEADERS.kafka;

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

/** Every header as text (the first value of a repeated one), or undefined when there are none. */
export function textHeaders(headers: IHeaders | undefined): Record<string, string> | undefined {
  if (!headers) return undefined;
  let any = false;
  for (const _name in headers) {
    any = true;
    break;
  }
  if (!any) return undefined; // most records: no allocation at all
  const entries = Object.keys(headers).flatMap((name) => {
    const value = readHeader(headers, name);
    return value === undefined ? [] : [[name, value] as const];
  });
  // fromEntries defines own properties: a header named `__proto__` cannot reach a prototype.
  return entries.length > 0 ? Object.fromEntries(entries) : undefined;
}
