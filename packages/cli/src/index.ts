/**
 * `@thrun/cli`: the `thrun` command, and the one place that turns flags, environment variables and a
 * config file into a transport, for any tool that should connect the way `thrun` does (the dashboard).
 */
export {
  CONNECTION_ENV,
  type ConnectionFlags,
  type ConnectionInput,
  type ConnectionSettings,
  DEFAULT_CONFIG_FILE,
  describeConnection,
  openBatchStore,
  openTransport,
  resolveConnection,
  type TransportKind,
} from './connection.js';
export { EXIT, type ExitCode } from './exit-codes.js';
export { safeText } from './output.js';
export { buildProgram, run } from './program.js';
