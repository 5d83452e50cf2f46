/**
 * `@thrun/contract/conformance`: the test kit every transport runs. It imports vitest, which is why
 * it lives in this sub-path and never in the main entry.
 */
export { type ConformanceCase, conformanceCases } from './cases.js';
export type {
  CollectOptions,
  Collector,
  ConformanceCaseId,
  ConformanceContext,
  Received,
  TransportConformanceFeatures,
} from './context.js';
export {
  type ConformanceOutcome,
  type ConformanceReport,
  describeTransportConformance,
  type PlannedConformanceCase,
  planConformanceCases,
  type TransportConformanceHooks,
  type TransportConformanceOptions,
} from './describe-transport-conformance.js';
export { arbitraryBytes, builtInRoundTripBodies, type RoundTripBody, roundTripBodies } from './vectors.js';
