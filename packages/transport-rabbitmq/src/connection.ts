import { type BackoffOptions, backoffDelayMs, sleep, TransportError } from '@thrun/contract';
import { redactText, redactUrl } from '@thrun/contract/transport-kit';
import { type ChannelModel, connect, type SocketOptions } from 'amqplib';

export type ConnectionSource = string | ChannelModel | (() => Promise<ChannelModel>);

export interface ConnectionManagerOptions {
  socketOptions: SocketOptions;
  connectTimeoutMs: number;
  reconnect: BackoffOptions;
}

/**
 * Owns the AMQP connection: opens it, reopens it with backoff whenever it is lost, and lets callers
 * wait (bounded) for a live one. A connection passed in as an object cannot be reopened; pass a
 * factory for that.
 */
export class ConnectionManager {
  private model: ChannelModel | undefined;
  /** Callers of `get()` waiting for a connection; woken with `undefined` when the manager closes. */
  private waiting: Array<(model: ChannelModel | undefined) => void> = [];
  private loop: Promise<void> | undefined;
  private closed = false;
  private lastError: unknown;
  /** Bumped on every new connection, so channels of an old one are recognised as gone. */
  generation = 0;

  constructor(
    private readonly source: ConnectionSource,
    private readonly options: ConnectionManagerOptions,
  ) {}

  /** The live connection, waiting up to `connectTimeoutMs` for one. */
  async get(): Promise<ChannelModel> {
    if (this.closed) throw closedError();
    if (this.model) return this.model;
    this.ensureLoop();
    return new Promise<ChannelModel>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = this.waiting.filter((waiter) => waiter !== onModel);
        reject(
          new TransportError(
            'connection_failed',
            `[thrun:rabbitmq] no connection to ${this.describe()} within ${this.options.connectTimeoutMs} ms${
              this.lastError instanceof Error ? `: ${redactText(this.lastError.message)}` : ''
            }`,
            { cause: this.lastError },
          ),
        );
      }, this.options.connectTimeoutMs);
      const onModel = (model: ChannelModel | undefined) => {
        clearTimeout(timer);
        if (model) resolve(model);
        else reject(closedError());
      };
      this.waiting.push(onModel);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const waiting = this.waiting;
    this.waiting = [];
    for (const wake of waiting) wake(undefined);
    const model = this.model;
    this.model = undefined;
    // A connection handed in by the caller is theirs to close.
    if (model && typeof this.source !== 'object') await model.close().catch(() => {});
  }

  private ensureLoop(): void {
    this.loop ??= this.connectLoop().finally(() => {
      this.loop = undefined;
    });
  }

  private async connectLoop(): Promise<void> {
    for (let attempt = 1; !this.closed; attempt++) {
      try {
        const model = await this.open();
        if (this.closed) {
          if (typeof this.source !== 'object') await model.close().catch(() => {});
          return;
        }
        this.generation++;
        this.model = model;
        // Errors arrive with 'close' too; a listener keeps an 'error' event from throwing.
        model.on('error', (error: unknown) => {
          this.lastError = error;
        });
        model.on('close', () => {
          if (this.model !== model) return;
          this.model = undefined;
          // Reopen at once, with backoff: consumers resubscribe and publishers wait on `get()`.
          if (!this.closed) this.ensureLoop();
        });
        const waiting = this.waiting;
        this.waiting = [];
        for (const resolve of waiting) resolve(model);
        return;
      } catch (error) {
        this.lastError = error;
        if (typeof this.source === 'object') return; // cannot reopen a connection we were given
        await sleep(backoffDelayMs(attempt, this.options.reconnect));
      }
    }
  }

  private async open(): Promise<ChannelModel> {
    const source = this.source;
    if (typeof source === 'function') return source();
    if (typeof source === 'object') {
      if (this.generation > 0) {
        throw new TransportError(
          'connection_failed',
          '[thrun:rabbitmq] the connection passed as `connection` closed; pass a factory to reconnect',
        );
      }
      return source;
    }
    return connect(source, {
      noDelay: true,
      clientProperties: { connection_name: 'thrun' },
      ...this.options.socketOptions,
    });
  }

  private describe(): string {
    return typeof this.source === 'string' ? redactUrl(this.source) : 'the given connection';
  }
}

function closedError(): TransportError {
  return new TransportError('closed', '[thrun:rabbitmq] transport is closed', { isRetryable: false });
}
