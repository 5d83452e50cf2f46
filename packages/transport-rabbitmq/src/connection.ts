import { type BackoffOptions, backoffDelayMs, sleep, TransportError } from '@thrun/contract';
import { redactText, redactUrl } from '@thrun/contract/transport-kit';
import { type ChannelModel, connect, type SocketOptions } from 'amqplib';

/** One URL, the URLs of several nodes of one cluster, a connection, or a factory of connections. */
export type ConnectionSource = string | readonly string[] | ChannelModel | (() => Promise<ChannelModel>);

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
  /** With several URLs: the one to try first, the last that worked (a dead node is passed over). */
  private preferred = 0;
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
    if (model && !this.givenConnection()) await model.close().catch(() => {});
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
          if (!this.givenConnection()) await model.close().catch(() => {});
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
        if (this.givenConnection()) return; // cannot reopen a connection we were given
        await sleep(backoffDelayMs(attempt, this.options.reconnect));
      }
    }
  }

  private async open(): Promise<ChannelModel> {
    const source = this.source;
    if (typeof source === 'function') return source();
    if (typeof source === 'string') return this.connectTo(source);
    if (Array.isArray(source)) return this.connectToAny(source as readonly string[]);
    if (typeof source === 'object') {
      if (this.generation > 0) {
        throw new TransportError(
          'connection_failed',
          '[thrun:rabbitmq] the connection passed as `connection` closed; pass a factory to reconnect',
        );
      }
      return source as ChannelModel;
    }
    throw new TransportError('connection_failed', '[thrun:rabbitmq] nothing to connect to');
  }

  private connectTo(url: string): Promise<ChannelModel> {
    return connect(url, {
      noDelay: true,
      clientProperties: { connection_name: 'thrun' },
      ...this.options.socketOptions,
    });
  }

  /** Each node in turn, from the preferred one; rejects with the last error when none answers. */
  private async connectToAny(urls: readonly string[]): Promise<ChannelModel> {
    let lastError: unknown;
    for (let i = 0; i < urls.length; i++) {
      const index = (this.preferred + i) % urls.length;
      try {
        const model = await this.connectTo(urls[index]!);
        this.preferred = index;
        return model;
      } catch (error) {
        lastError = error;
      }
    }
    throw lastError;
  }

  /** A connection object handed in by the caller: theirs to close, and it cannot be reopened. */
  private givenConnection(): boolean {
    return typeof this.source === 'object' && !Array.isArray(this.source);
  }

  private describe(): string {
    const source = this.source;
    if (typeof source === 'string') return redactUrl(source);
    if (Array.isArray(source)) return (source as readonly string[]).map(redactUrl).join(', ');
    return 'the given connection';
  }
}

function closedError(): TransportError {
  return new TransportError('closed', '[thrun:rabbitmq] transport is closed', { isRetryable: false });
}
