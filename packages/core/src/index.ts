export { BatchBuilder, type LifecycleEventRef } from './batch/batch-builder.js';
export type { BatchOptions } from './batch/batch-engine.js';
export {
  type Batches,
  type BatchStatusView,
  STEP_FAILED_EVENT,
  STEP_SUCCEEDED_EVENT,
} from './batch/batches.js';
export { MemoryBatchStore } from './batch/memory-batch-store.js';
export type { BulkItem, DispatchFunction, DispatchOptions, HandlerContext } from './context.js';
export type {
  DeadLetterEntry,
  DeadLetters,
  ListOptions,
  ReplayOptions,
  ReplayProgress,
  ReplayReport,
} from './dead-letters.js';
export type { DiscoverOptions, DiscoveryReport } from './discover.js';
export { isRetryableError, NonRetryableError, permanent } from './errors.js';
export {
  type EventClass,
  type EventTarget,
  eventNameOf,
  isEventClass,
  type Job,
  ThrunJob,
  toJob,
} from './event-class.js';
export type { InstrumentedOperation, SettleAction, ThrunHooks } from './hooks.js';
export {
  type DefinedListener,
  defineListener,
  type Handler,
  type HandlerClass,
  type HandlerFunction,
  type HandlerObject,
  type ListenerOptions,
  ThrunEventListener,
} from './listeners.js';
export { defaultLogger, silentLogger, type ThrunLogger } from './logger.js';
export type {
  BatchesOptions,
  LimitOptions,
  RetryOptions,
  StopOptions,
  ThrunOptions,
  UnknownEventPolicy,
} from './options.js';
export type { EventStats, LatencySummary, ThrunStats } from './stats.js';
export type { ThrunSubscription } from './subscriptions.js';
export { createThrun, type Thrun } from './thrun.js';
export type { DeliveryOutcome, InterceptedDelivery, WorkerInterceptor } from './worker.js';
