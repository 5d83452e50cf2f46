import { describe, expect, it } from 'vitest';
import { decodeDeadLetter } from '../dead-letter.js';
import { ConfigurationError, TransportError } from '../errors.js';
import type { Delivery } from '../transport.js';
import {
  abortable,
  deadLetterCopy,
  defineTransport,
  drainWithin,
  optionChecks,
  redactText,
  redactUrl,
  runDelivery,
  Settlement,
  startDelivery,
} from './index.js';

const delivery = {} as Delivery;
const refusal = () => new TransportError('broker_error', 'refused');

describe('Settlement', () => {
  it('settles once: later settlements do not run', async () => {
    const settlement = new Settlement();
    const runs: string[] = [];
    await settlement.settle(() => void runs.push('ack'));
    await settlement.settle(() => void runs.push('retry'));
    expect(runs).toEqual(['ack']);
    expect(settlement.state).toBe('settled');
  });

  it('a synchronous action settles synchronously', () => {
    const settlement = new Settlement();
    void settlement.settle(() => {});
    expect(settlement.state).toBe('settled');
  });

  it('a second settlement while one is under way waits for it and does not run', async () => {
    const settlement = new Settlement();
    let finish = () => {};
    const first = settlement.settle(() => new Promise<void>((resolve) => (finish = resolve)));
    let secondRan = false;
    const second = settlement.settle(() => {
      secondRan = true;
    });
    expect(settlement.state).toBe('settling');
    finish();
    await Promise.all([first, second]);
    expect(secondRan).toBe(false);
    expect(settlement.state).toBe('settled');
  });

  it('a refused settlement leaves the delivery pending and marked refused, so it can be settled again', async () => {
    const settlement = new Settlement();
    await expect(settlement.settle(() => Promise.reject(refusal()))).rejects.toThrow('refused');
    expect(settlement.state).toBe('pending');
    expect(settlement.refused).toBe(true);
    await settlement.settle(async () => {});
    expect(settlement.state).toBe('settled');
  });

  it('release hands back only a pending delivery, and nothing settles it afterwards', async () => {
    const settlement = new Settlement();
    expect(settlement.release()).toBe(true);
    let ran = false;
    await settlement.settle(() => {
      ran = true;
    });
    expect(ran).toBe(false);
    expect(settlement.state).toBe('released');
    expect(settlement.release()).toBe(false);
  });
});

describe('runDelivery', () => {
  it('runs the handler on a later tick', async () => {
    let ran = false;
    const run = runDelivery(
      () => {
        ran = true;
      },
      delivery,
      new Settlement(),
      async () => {},
    );
    expect(ran).toBe(false);
    await run;
    expect(ran).toBe(true);
  });

  it('retries a delivery at once when the handler returns or throws without settling', async () => {
    for (const handler of [() => {}, () => Promise.reject(new Error('boom'))]) {
      const settlement = new Settlement();
      let retries = 0;
      const outcome = await runDelivery(handler, delivery, settlement, () =>
        settlement.settle(() => void retries++),
      );
      expect({ outcome, retries }).toEqual({ outcome: 'settled', retries: 1 });
    }
  });

  it('does not retry a delivery its handler settled, even while that settlement is under way', async () => {
    const settlement = new Settlement();
    let retries = 0;
    const outcome = await runDelivery(
      () => {
        void settlement.settle(() => new Promise<void>((resolve) => setTimeout(resolve, 20)));
      },
      delivery,
      settlement,
      () => settlement.settle(() => void retries++),
    );
    expect({ outcome, retries }).toEqual({ outcome: 'settled', retries: 0 });
  });

  it('after a refused settlement, ends refused without retrying at once', async () => {
    const settlement = new Settlement();
    let retries = 0;
    const outcome = await runDelivery(
      async () => {
        await settlement.settle(() => Promise.reject(refusal())).catch(() => {});
      },
      delivery,
      settlement,
      () => settlement.settle(() => void retries++),
    );
    expect({ outcome, retries }).toEqual({ outcome: 'refused', retries: 0 });
  });

  it('a refused retry-now ends refused and is reported', async () => {
    const settlement = new Settlement();
    const errors: unknown[] = [];
    const outcome = await runDelivery(
      () => {},
      delivery,
      settlement,
      () => settlement.settle(() => Promise.reject(refusal())),
      (error) => errors.push(error),
    );
    expect(outcome).toBe('refused');
    expect(errors).toHaveLength(1);
  });

  it('a delivery released while its handler runs ends released, and is not retried', async () => {
    const settlement = new Settlement();
    let retries = 0;
    const outcome = await runDelivery(
      () => void settlement.release(),
      delivery,
      settlement,
      () => settlement.settle(() => void retries++),
    );
    expect({ outcome, retries }).toEqual({ outcome: 'released', retries: 0 });
  });
});

describe('startDelivery', () => {
  it('tells the outcome once, through the callback, after the handler ran on a later tick', async () => {
    const outcomes: string[] = [];
    let ran = false;
    const settlement = new Settlement();
    startDelivery(
      () => {
        ran = true;
        return settlement.settle(() => {});
      },
      delivery,
      settlement,
      async () => {},
      (outcome) => outcomes.push(outcome),
    );
    expect({ ran, outcomes }).toEqual({ ran: false, outcomes: [] });
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect({ ran, outcomes }).toEqual({ ran: true, outcomes: ['settled'] });
  });

  it('retries at most once, even when retry-now rejects without touching the settlement', async () => {
    const outcomes: string[] = [];
    const errors: unknown[] = [];
    let retries = 0;
    startDelivery(
      () => {},
      delivery,
      new Settlement(),
      () => {
        retries += 1;
        return Promise.reject(refusal());
      },
      (outcome) => outcomes.push(outcome),
      (error) => errors.push(error),
    );
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect({ outcomes, retries, errors: errors.length }).toEqual({
      outcomes: ['refused'],
      retries: 1,
      errors: 1,
    });
  });
});

describe('drainWithin', () => {
  it('is true when every run finishes in time, rejected ones included', async () => {
    expect(await drainWithin([Promise.resolve(), Promise.reject(new Error('x'))], 50)).toBe(true);
  });

  it('is false at the deadline when a run is still going', async () => {
    const started = Date.now();
    expect(await drainWithin([new Promise(() => {})], 30)).toBe(false);
    expect(Date.now() - started).toBeGreaterThanOrEqual(25);
  });
});

describe('optionChecks', () => {
  const checks = optionChecks('test');

  it('returns the fallback when an option is not given, and the value when it is valid', () => {
    expect(checks.positiveInteger('concurrency', undefined, 4)).toBe(4);
    expect(checks.positiveInteger('concurrency', 2, 4)).toBe(2);
    expect(checks.nonNegativeNumber('drainTimeoutMs', 0, 10)).toBe(0);
    expect(checks.positiveNumber('blockTimeoutMs', 0.5, 10)).toBe(0.5);
    expect(checks.oneOf('mode', 'stream', ['list', 'stream'], 'list')).toBe('stream');
  });

  it.each([
    ['positiveInteger', 0, 'concurrency must be a positive integer, got 0'],
    ['positiveInteger', 1.5, 'concurrency must be a positive integer, got 1.5'],
    ['positiveNumber', 0, 'concurrency must be a number > 0, got 0'],
    ['nonNegativeNumber', -1, 'concurrency must be a number ≥ 0, got -1'],
    ['nonNegativeNumber', Number.NaN, 'concurrency must be a number ≥ 0, got NaN'],
  ] as const)('%s rejects %s with one error style', (check, value, message) => {
    const error = (() => {
      try {
        checks[check]('concurrency', value, 1);
      } catch (caught) {
        return caught;
      }
    })();
    expect(ConfigurationError.isInstance(error)).toBe(true);
    expect((error as ConfigurationError).code).toBe('invalid_option');
    expect((error as Error).message).toBe(`[thrun:test] ${message}`);
  });

  it('oneOf names the choices', () => {
    expect(() => checks.oneOf('mode', 'queue' as 'list', ['list', 'stream'], 'list')).toThrow(
      `[thrun:test] mode must be 'list' or 'stream', got "queue"`,
    );
  });
});

describe('redaction', () => {
  it('removes user name and password from a URL, and keeps the rest', () => {
    expect(redactUrl('redis://app:s3cret@cache.internal:6380/2')).toBe('redis://cache.internal:6380/2');
    expect(redactUrl('amqps://guest:s3cret@mq:5671/vhost')).toBe('amqps://mq:5671/vhost');
    expect(redactUrl('not a url s3cret')).toBe('<invalid url>');
  });

  it('removes credentials from every URL inside a text', () => {
    expect(redactText('connect amqp://u:s3cret@a:1 failed, then redis://:s3cret@b:2/0')).toBe(
      'connect amqp://a:1 failed, then redis://b:2/0',
    );
  });
});

describe('abortable', () => {
  const aborted = () => new TransportError('timeout', 'aborted');

  it('resolves with the work when nothing aborts', async () => {
    expect(await abortable(Promise.resolve(7), new AbortController().signal, aborted)).toBe(7);
  });

  it('rejects as soon as the signal aborts, or at once when it already has', async () => {
    const controller = new AbortController();
    const waiting = abortable(new Promise(() => {}), controller.signal, aborted);
    controller.abort();
    await expect(waiting).rejects.toThrow('aborted');
    await expect(abortable(Promise.resolve(1), AbortSignal.abort(), aborted)).rejects.toThrow('aborted');
  });
});

describe('deadLetterCopy', () => {
  it('names the dead queue and describes the reason in headers that decode back, cut to the limits', () => {
    const copy = deadLetterCopy('orders', { code: 'max_attempts', message: 'x'.repeat(5000) }, 3);
    expect(copy.queue).toBe('orders.dead');
    const body = new TextEncoder().encode('{"event":"e"}');
    const decoded = decodeDeadLetter({ body, headers: copy.headers });
    expect(decoded).toMatchObject({ form: 'headers', queue: 'orders', attempts: 3, originalBody: body });
    expect(decoded.error.code).toBe('max_attempts');
    expect(new TextEncoder().encode(decoded.error.message).byteLength).toBeLessThanOrEqual(1024);
  });
});

describe('defineTransport', () => {
  const capabilities = {
    delay: false,
    fanout: false,
    ordering: 'none',
    persistent: false,
    maxPayloadBytes: 4,
    deadLetter: false,
    redeliversUnacked: true,
  } as const;
  const define = (closes: number[], calls: string[] = []) =>
    defineTransport({
      name: 'test',
      capabilities,
      drainTimeoutMs: 100,
      publish: async (queue, messages) => void calls.push(`publish ${queue} ${messages.length}`),
      consume: async (queue, _handler, options) => {
        calls.push(`consume ${queue} ${options.group} ${options.concurrency}`);
        return { close: async (drainTimeoutMs: number) => void closes.push(drainTimeoutMs) };
      },
      shutdown: async (drainTimeoutMs) => void calls.push(`shutdown ${drainTimeoutMs}`),
      purge: async () => 0,
    });
  const body = (size: number) => ({ body: new Uint8Array(size) });

  it('checks every call the same way before the adapter sees it', async () => {
    const calls: string[] = [];
    const transport = define([], calls);
    await expect(transport.publish('bad queue!', [body(1)])).rejects.toThrow();
    await expect(transport.publish('q', [body(5)])).rejects.toThrow('exceeds maxPayloadBytes (4)');
    await transport.publish('q', []);
    await expect(transport.publish('q', [body(1)], { signal: AbortSignal.abort() })).rejects.toThrow(
      '[thrun:test] publish aborted before anything was sent',
    );
    await expect(transport.consume('q', () => {}, { concurrency: 0 })).rejects.toThrow(
      '[thrun:test] concurrency must be a positive integer, got 0',
    );
    await transport.publish('q', [body(4)]);
    await transport.consume('q', () => {});
    expect(calls).toEqual(['publish q 1', 'consume q default 1']);
    expect(transport.peek).toBeUndefined();
  });

  it('close drains every consumer with the call’s timeout, then shuts down, once; afterwards it refuses work', async () => {
    const closes: number[] = [];
    const calls: string[] = [];
    const transport = define(closes, calls);
    await transport.consume('a', () => {});
    await transport.consume('b', () => {});
    await Promise.all([transport.close({ drainTimeoutMs: 5 }), transport.close()]);
    expect({ closes, shutdowns: calls.filter((call) => call.startsWith('shutdown')) }).toEqual({
      closes: [5, 5],
      shutdowns: ['shutdown 5'],
    });
    for (const work of [
      transport.publish('q', [body(1)]),
      transport.consume('q', () => {}),
      transport.purge!('q'),
    ]) {
      await expect(work).rejects.toThrow('[thrun:test] transport is closed');
    }
  });

  it('a subscription closes with the default drain timeout, on close() or when its signal aborts, once', async () => {
    const closes: number[] = [];
    const calls: string[] = [];
    const transport = define(closes, calls);
    const controller = new AbortController();
    await transport.consume('q', () => {}, { signal: controller.signal });
    controller.abort();
    const subscription = await transport.consume('q', () => {});
    await subscription.close();
    await subscription.close();
    await transport.close();
    expect(closes).toEqual([100, 100]);
  });

  it('a consumer that finished starting after close() began is closed, and consume rejects', async () => {
    const closes: number[] = [];
    let started = () => {};
    const transport = defineTransport({
      name: 'test',
      capabilities,
      drainTimeoutMs: 100,
      publish: async () => {},
      consume: async () => {
        await new Promise<void>((resolve) => {
          started = resolve;
        });
        return { close: async (drainTimeoutMs: number) => void closes.push(drainTimeoutMs) };
      },
    });
    const consuming = transport.consume('q', () => {});
    await transport.close();
    started();
    await expect(consuming).rejects.toThrow('[thrun:test] transport is closed');
    expect(closes).toEqual([0]);
  });

  it('an already aborted signal starts no consumer', async () => {
    const calls: string[] = [];
    const transport = define([], calls);
    await (await transport.consume('q', () => {}, { signal: AbortSignal.abort() })).close();
    expect(calls).toEqual([]);
  });
});
