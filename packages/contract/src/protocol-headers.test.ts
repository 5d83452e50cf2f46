import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { registerSchema, validate } from '@hyperjump/json-schema/draft-2020-12';
import { describe, expect, it } from 'vitest';
import {
  protocolHeadersFile,
  readProtocolHeaders,
  renderProtocolHeadersModule,
} from '../scripts/protocol-headers.mjs';
import { createDeadLetterMetadata, DEAD_LETTER_HEADERS, DEAD_LETTER_REASON_LIMITS } from './dead-letter.js';
import { PROTOCOL_HEADERS } from './index.js';

interface Header {
  name: string;
}
interface ProtocolHeaders {
  deadLetter: {
    headers: Record<string, Header>;
    reasonLimits: { codeBytes: number; messageBytes: number };
  };
  rabbitmq: { headers: Record<string, Header> };
  kafka: { headers: Record<string, Header> };
  redis: { streamFields: Record<string, Header> };
}

const protocol = readProtocolHeaders() as ProtocolHeaders;
const namesOf = (headers: Record<string, Header>) =>
  Object.fromEntries(Object.entries(headers).map(([constant, header]) => [constant, header.name]));
const utf8 = new TextEncoder();

describe('protocol/headers.json', () => {
  it('is exactly what the generated module holds (run the build after changing it)', () => {
    const generated = readFileSync(new URL('./generated/protocol-headers.ts', import.meta.url), 'utf8');
    expect(generated).toBe(renderProtocolHeadersModule(protocol));
    expect(PROTOCOL_HEADERS).toEqual({
      deadLetter: namesOf(protocol.deadLetter.headers),
      rabbitmq: namesOf(protocol.rabbitmq.headers),
      kafka: namesOf(protocol.kafka.headers),
    });
    expect(DEAD_LETTER_HEADERS).toEqual(namesOf(protocol.deadLetter.headers));
    const { codeBytes, messageBytes } = protocol.deadLetter.reasonLimits;
    expect(DEAD_LETTER_REASON_LIMITS).toEqual({ codeBytes, messageBytes });
  });

  it('validates against protocol/headers.schema.json', async () => {
    const schema = JSON.parse(
      readFileSync(join(dirname(protocolHeadersFile), 'headers.schema.json'), 'utf8'),
    );
    registerSchema(schema);
    const run = await validate(schema.$id);
    expect(run(protocol as unknown as Parameters<typeof run>[0]).valid).toBe(true);
  });

  it('gives every header one name: no wire name is listed twice', () => {
    const names = [
      ...Object.values(protocol.deadLetter.headers),
      ...Object.values(protocol.rabbitmq.headers),
      ...Object.values(protocol.kafka.headers),
    ].map((header) => header.name);
    expect(new Set(names).size).toBe(names.length);
  });

  it('states the truncation rule the contract applies: at most the limit, the cut marked with …', () => {
    const { codeBytes, messageBytes } = protocol.deadLetter.reasonLimits;
    const fits = { code: 'c'.repeat(codeBytes), message: 'é'.repeat(messageBytes / 2) };
    expect(createDeadLetterMetadata({ queue: 'q', reason: fits, attempts: 1 }).error).toEqual(fits);

    // 'é' is 2 bytes: the longest prefix of whole characters within limit − 3 bytes, then '…'.
    const long = { code: `${'c'.repeat(codeBytes)}x`, message: 'é'.repeat(messageBytes) };
    const { error } = createDeadLetterMetadata({ queue: 'q', reason: long, attempts: 1 });
    expect(error.code).toBe(`${'c'.repeat(codeBytes - 3)}…`);
    expect(error.message).toBe(`${'é'.repeat(Math.floor((messageBytes - 3) / 2))}…`);
    expect(utf8.encode(error.message).byteLength).toBeLessThanOrEqual(messageBytes);
  });
});
