import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigurationError } from '@thrun/contract';
import { describe, expect, it } from 'vitest';
import { describeConnection, resolveConnection } from './connection.js';

function configDir(content: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), 'thrun-config-'));
  writeFileSync(join(dir, 'thrun.config.json'), JSON.stringify(content));
  return dir;
}

describe('resolveConnection', () => {
  it('takes each setting from the flag, else the variable, else the config file', () => {
    const cwd = configDir({
      redisUrl: 'redis://file:6379',
      redisMode: 'stream',
      queue: 'from-file',
      queues: ['a', 'b'],
    });
    const settings = resolveConnection({
      flags: { queue: 'from-flag' },
      env: { THRUN_REDIS_URL: 'redis://env:6379', THRUN_GROUPS: 'mailer, billing' },
      cwd,
    });
    expect(settings).toEqual({
      transport: 'redis',
      redis: { url: 'redis://env:6379', mode: 'stream', keyPrefix: '' },
      queue: 'from-flag',
      queues: ['from-flag', 'a', 'b'],
      groups: ['mailer', 'billing'],
      batchStoreUrl: 'redis://env:6379',
    });
  });

  it('infers the transport from the one URL given, and refuses none or two without --transport', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'thrun-empty-'));
    expect(resolveConnection({ env: { THRUN_KAFKA_BROKERS: 'a:1,b:2' }, cwd })).toMatchObject({
      transport: 'kafka',
      kafka: { brokers: ['a:1', 'b:2'] },
      batchStoreUrl: undefined,
    });
    expect(() => resolveConnection({ env: {}, cwd })).toThrow(ConfigurationError);
    const both = { THRUN_REDIS_URL: 'redis://r:1', THRUN_RABBITMQ_URL: 'amqp://q:1' };
    expect(() => resolveConnection({ env: both, cwd })).toThrow(/both present/);
    expect(resolveConnection({ env: { ...both, THRUN_TRANSPORT: 'rabbitmq' }, cwd }).transport).toBe(
      'rabbitmq',
    );
    expect(() => resolveConnection({ env: { ...both, THRUN_TRANSPORT: 'sqs' }, cwd })).toThrow(
      /one of redis/,
    );
  });

  it('rejects unknown config keys, bad modes and invalid queue names', () => {
    expect(() => resolveConnection({ env: {}, cwd: configDir({ redisURL: 'x' }) })).toThrow(/unknown key/);
    expect(() =>
      resolveConnection({ env: { THRUN_REDIS_URL: 'redis://r', THRUN_REDIS_MODE: 'pubsub' } }),
    ).toThrow(/list, stream/);
    expect(() =>
      resolveConnection({ env: { THRUN_REDIS_URL: 'redis://r', THRUN_QUEUE: 'Bad Queue' } }),
    ).toThrow();
  });

  it('describes where it connects without credentials', () => {
    const env = { THRUN_RABBITMQ_URL: 'amqps://ops:s3cret@mq.internal:5671/prod' };
    const text = describeConnection(resolveConnection({ env, configFile: '' }));
    expect(text).toBe('rabbitmq at amqps://mq.internal:5671/prod');
  });
});
