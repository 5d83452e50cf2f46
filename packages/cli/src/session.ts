import { ConfigurationError, ThrunError, type Transport } from '@thrun/contract';
import { createThrun, silentLogger, type Thrun } from '@thrun/core';
import {
  type ConnectionFlags,
  type ConnectionSettings,
  describeConnection,
  openBatchStore,
  openTransport,
  resolveConnection,
} from './connection.js';
import { CliError, EXIT } from './exit-codes.js';

/** The options every command takes, besides the connection flags. */
export interface GlobalOptions extends ConnectionFlags {
  json?: boolean;
  config?: string;
}

/**
 * What one command run uses: the resolved settings, and a transport and bus opened on first use
 * and closed once the command ends.
 */
export class Session {
  readonly settings: ConnectionSettings;
  readonly json: boolean;
  private openedTransport: Transport | undefined;
  private openedBus: Thrun | undefined;
  private closers: (() => Promise<void>)[] = [];

  constructor(options: GlobalOptions) {
    const { json, config, ...flags } = options;
    this.json = json === true;
    this.settings = resolveConnection({ flags, ...(config === undefined ? {} : { configFile: config }) });
  }

  get where(): string {
    return describeConnection(this.settings);
  }

  transport(): Transport {
    if (!this.openedTransport) {
      const transport = openTransport(this.settings);
      this.openedTransport = transport;
      this.closers.push(() => transport.close({ drainTimeoutMs: 2_000 }));
    }
    return this.openedTransport;
  }

  /** A bus that never starts: it dispatches and reads dead letters and batches, and handles nothing. */
  bus(options: { batches?: boolean } = {}): Thrun {
    if (!this.openedBus) {
      const store = options.batches ? openBatchStore(this.settings) : undefined;
      if (options.batches && !store) {
        throw new CliError(
          EXIT.configuration,
          `batches live in a shared batch store: set THRUN_BATCH_STORE_URL (or --batch-store-url) to its Redis URL`,
        );
      }
      if (store) this.closers.push(() => store.close());
      this.openedBus = createThrun({
        transport: this.transport(),
        source: 'thrun-cli',
        queue: this.settings.queue,
        logger: silentLogger,
        ...(store ? { batches: { store } } : {}),
      });
    }
    return this.openedBus;
  }

  async close(): Promise<void> {
    const closers = this.closers.splice(0).reverse();
    for (const close of closers) await close().catch(() => {});
  }
}

/** A transport that lacks what a command needs: a configuration problem, not a failure. */
export function requireFeature<T>(value: T | undefined, what: string, transport: string): T {
  if (value === undefined) {
    throw new ConfigurationError(
      'unsupported_feature',
      `[thrun:cli] the ${transport} transport cannot ${what}`,
    );
  }
  return value;
}

export { ThrunError };
