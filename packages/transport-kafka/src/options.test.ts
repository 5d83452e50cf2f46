import { ConfigurationError } from '@thrun/contract';
import { logLevel } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { kafkaTransport } from './kafka-transport.js';

describe('kafkaTransport options', () => {
  it('needs brokers or a kafka client', () => {
    expect(() => kafkaTransport()).toThrow(expect.objectContaining({ code: 'invalid_option' }));
    expect(() => kafkaTransport({ brokers: ' , ' })).toThrow(/brokers/);
  });

  it.each([
    { partitions: 0 },
    { partitions: 1.5 },
    { maxPayloadBytes: -1 },
    { sessionTimeoutMs: 0 },
    { drainTimeoutMs: -5 },
    { commitIntervalMs: 0 },
  ])('rejects %o with ConfigurationError', (invalid) => {
    let error: unknown;
    try {
      kafkaTransport({ brokers: '127.0.0.1:9192', ...invalid });
    } catch (caught) {
      error = caught;
    }
    expect(ConfigurationError.isInstance(error)).toBe(true);
    expect((error as ConfigurationError).message).toMatch(/^\[thrun:kafka\] /);
  });

  it('states its capabilities without connecting', async () => {
    const transport = kafkaTransport({ brokers: ['127.0.0.1:1'], maxPayloadBytes: 500_000 });
    expect(transport.specificationVersion).toBe('v1');
    expect(transport.name).toBe('kafka');
    expect(transport.capabilities).toEqual({
      delay: true,
      fanout: true,
      ordering: 'per-key',
      persistent: true,
      maxPayloadBytes: 500_000,
      deadLetter: true,
      redeliversUnacked: true,
      inspect: true,
    });
    await transport.close();
  });

  it('never writes SASL credentials into its errors', async () => {
    const transport = kafkaTransport({
      brokers: ['127.0.0.1:1'],
      sasl: { mechanism: 'plain', username: 'alice', password: 's3cret-password' },
      connectTimeoutMs: 200,
      retry: { retries: 0 },
      logLevel: logLevel.NOTHING,
    });
    let error: unknown;
    try {
      await transport.publish('credentials-check', [{ body: new Uint8Array([1]) }]);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(Error);
    const text = `${String(error)} ${JSON.stringify(error)} ${String((error as Error).cause)}`;
    expect(text).not.toContain('s3cret-password');
    await transport.close();
  });
});
