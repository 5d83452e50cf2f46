import { randomBytes } from 'node:crypto';
import { PayloadTooLargeError, TransportError } from '@thrun/contract';
import { abortable, redactText } from '@thrun/contract/transport-kit';
import type { Channel, ConfirmChannel } from 'amqplib';
import type { ConnectionManager } from './connection.js';
import { asThrunError } from './errors.js';

/** Something to declare before publishing; `key` makes it run once per connection. */
export interface Declaration {
  key: string;
  run(channel: Channel): Promise<void>;
}

export interface PublishItem {
  exchange: string;
  routingKey: string;
  body: Uint8Array;
  headers?: Record<string, unknown>;
}

interface ChannelState {
  needsDrain?: boolean;
  channel: ConfirmChannel;
  closed: boolean;
  error: unknown;
}

/**
 * Publishes on one confirm channel shared by every caller. Messages are pipelined: up to `window`
 * unconfirmed messages are on the wire at once, and a call resolves when the broker confirmed each of
 * its own. Every message is persistent and `mandatory`: the broker sends `basic.return` before the
 * confirm of a message no queue took, and that message's call rejects with `unroutable`.
 */
export class Publisher {
  private state: ChannelState | undefined;
  private opening: Promise<ChannelState> | undefined;
  private generation = -1;
  private readonly declared = new Map<string, Promise<void>>();
  /** Keys of `declared` that completed on the current connection. */
  private readonly done = new Set<string>();
  private readonly returned = new Set<string>();
  private readonly idPrefix = randomBytes(6).toString('hex');
  private sequence = 0;
  private inFlight = 0;
  private windowWaiters: Array<() => void> = [];
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly manager: ConnectionManager,
    private readonly window: number,
  ) {}

  async publish(
    items: readonly PublishItem[],
    declarations: readonly Declaration[],
    signal?: AbortSignal,
  ): Promise<void> {
    // Aborting gives up at once, even while waiting for the window, a drain or the confirms.
    return abortable(this.send(items, declarations, signal), signal, abortedError);
  }

  private async send(
    items: readonly PublishItem[],
    declarations: readonly Declaration[],
    signal?: AbortSignal,
  ): Promise<void> {
    // The common case (channel open, topology declared) takes no extra turn of the event loop.
    const state = this.state && !this.state.closed ? this.state : await this.channel();
    for (const declaration of declarations) {
      if (this.done.has(declaration.key)) continue;
      try {
        await this.declare(state, declaration);
      } catch (error) {
        throw asThrunError(error, 'declaring the topology');
      }
    }

    const confirms: Promise<void>[] = [];
    for (const item of items) {
      while (this.inFlight >= this.window)
        await new Promise<void>((resolve) => this.windowWaiters.push(resolve));
      if (signal?.aborted) break; // the caller has been answered; send no more
      if (state.closed) {
        confirms.push(Promise.reject(this.failure(state, undefined)));
        break;
      }
      const confirmed = this.sendOne(state, item);
      confirmed.catch(() => {}); // observed below by Promise.all; avoids an unhandled rejection meanwhile
      confirms.push(confirmed);
      if (state.needsDrain) await this.drained(state);
    }
    if (confirms.length === 1) return confirms[0];
    await Promise.all(confirms);
  }

  /** Resolves once no publish waits for a confirm, or after `timeoutMs`. */
  async idle(timeoutMs: number): Promise<void> {
    if (this.inFlight === 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  async close(): Promise<void> {
    const state = this.state;
    this.state = undefined;
    if (state && !state.closed) await state.channel.close().catch(() => {});
  }

  private sendOne(state: ChannelState & { needsDrain?: boolean }, item: PublishItem): Promise<void> {
    const id = `${this.idPrefix}.${++this.sequence}`;
    this.inFlight++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.inFlight--;
      // Every waiter re-checks the window; waking all of them means none waits for a slot forever.
      for (const wake of this.windowWaiters.splice(0)) wake();
      if (this.inFlight === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
    };
    return new Promise<void>((resolve, reject) => {
      try {
        const body = Buffer.from(item.body.buffer, item.body.byteOffset, item.body.byteLength);
        const ok = state.channel.publish(
          item.exchange,
          item.routingKey,
          body,
          {
            persistent: true,
            mandatory: true,
            messageId: id,
            ...(item.headers ? { headers: item.headers } : {}),
          },
          (error: unknown) => {
            release();
            if (this.returned.delete(id)) {
              // The broker forgot a declaration we cached (a queue deleted meanwhile): declare again next time.
              this.declared.clear();
              this.done.clear();
              reject(
                new TransportError(
                  'unroutable',
                  `[thrun:rabbitmq] no queue is bound to receive a message sent to ${describeRoute(item)}`,
                ),
              );
            } else if (error) reject(this.failure(state, error));
            else resolve();
          },
        );
        if (!ok) state.needsDrain = true;
      } catch (error) {
        release();
        reject(this.failure(state, error));
      }
    });
  }

  private async drained(state: ChannelState & { needsDrain?: boolean }): Promise<void> {
    await new Promise<void>((resolve) => {
      const done = () => {
        state.channel.off('drain', done);
        state.channel.off('close', done);
        resolve();
      };
      state.channel.on('drain', done);
      state.channel.on('close', done);
    });
    state.needsDrain = false;
  }

  private failure(state: ChannelState, error: unknown): Error {
    const cause = state.error ?? error;
    const text = cause instanceof Error ? redactText(cause.message) : 'channel closed';
    // RabbitMQ closes the channel with 406 when a message exceeds its `max_message_size`.
    if (/message size .* larger than/i.test(text)) {
      return new PayloadTooLargeError(
        'payload_too_large',
        `[thrun:rabbitmq] the broker refused the message: ${text}`,
        {
          cause,
        },
      );
    }
    if (error instanceof Error && error.message === 'message nacked') {
      return new TransportError('publish_failed', '[thrun:rabbitmq] the broker refused the message (nack)', {
        cause,
      });
    }
    return new TransportError(
      'publish_failed',
      `[thrun:rabbitmq] the message may not have been accepted: ${text}`,
      { cause },
    );
  }

  private async declare(state: ChannelState, declaration: Declaration): Promise<void> {
    let pending = this.declared.get(declaration.key);
    if (!pending) {
      const generation = this.generation;
      pending = declaration.run(state.channel).then(() => {
        if (this.generation === generation && this.declared.get(declaration.key) === pending) {
          this.done.add(declaration.key);
        }
      });
      this.declared.set(declaration.key, pending);
      pending.catch(() => this.declared.delete(declaration.key));
    }
    await pending;
  }

  private async channel(): Promise<ChannelState> {
    if (this.state && !this.state.closed) return this.state;
    this.opening ??= this.open().finally(() => {
      this.opening = undefined;
    });
    return this.opening;
  }

  private async open(): Promise<ChannelState> {
    const model = await this.manager.get();
    if (this.manager.generation !== this.generation) {
      // A new connection may be to a broker that lost its definitions: declare again.
      this.declared.clear();
      this.done.clear();
      this.generation = this.manager.generation;
    }
    let channel: ConfirmChannel;
    try {
      channel = await model.createConfirmChannel();
    } catch (cause) {
      throw new TransportError('connection_failed', '[thrun:rabbitmq] could not open a channel', { cause });
    }
    const state: ChannelState = { channel, closed: false, error: undefined };
    channel.on('error', (error: unknown) => {
      state.error = error;
    });
    channel.on('close', () => {
      state.closed = true;
      if (this.state === state) this.state = undefined;
    });
    channel.on('return', (message: { properties: { messageId?: string } }) => {
      if (message.properties.messageId) this.returned.add(message.properties.messageId);
    });
    this.state = state;
    return state;
  }
}

function describeRoute(item: PublishItem): string {
  return item.exchange === '' ? `queue ${item.routingKey}` : `exchange ${item.exchange}`;
}

function abortedError(): TransportError {
  return new TransportError(
    'timeout',
    '[thrun:rabbitmq] publish aborted before the broker confirmed every message; they may or may not have been accepted',
  );
}
