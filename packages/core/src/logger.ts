/**
 * The logger Thrun writes to. Structured fields go in the second argument; pino, winston and
 * `console` all fit (`createThrun({ logger: pino() })`). Fields never hold payloads or credentials.
 */
export interface ThrunLogger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** Warnings and errors to stderr; debug and info are dropped. */
export const defaultLogger: ThrunLogger = {
  debug() {},
  info() {},
  warn(message, fields) {
    console.warn(`[thrun] ${message}`, fields ?? '');
  },
  error(message, fields) {
    console.error(`[thrun] ${message}`, fields ?? '');
  },
};

export const silentLogger: ThrunLogger = { debug() {}, info() {}, warn() {}, error() {} };
