export { MUTANTS, type Mutant, type MutantName } from './mutants.js';
export {
  type ConformanceOptions,
  type ConformanceReport,
  formatResult,
  runConformance,
  SCENARIO_NAMES,
  type ScenarioResult,
  type ScenarioStatus,
} from './run.js';
export { createTransport, defaultBrokerUrl } from './transports.js';
export {
  isTransportName,
  READY_LINE,
  readWorkerSettings,
  TRANSPORT_NAMES,
  type TransportName,
  type WorkerSettings,
  workerEnvironment,
} from './worker-env.js';
