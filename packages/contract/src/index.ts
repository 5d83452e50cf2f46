export { type BackoffOptions, backoffDelayMs, REFUSED_SETTLEMENT_BACKOFF, sleep } from './backoff.js';
export {
  type BatchEmission,
  type BatchFailure,
  type BatchJob,
  type BatchLifecycle,
  type BatchMode,
  type BatchRecord,
  type BatchStatus,
  cancelBatch,
  isTerminal,
  recordStepOutcome,
  type StepOutcome,
  startBatch,
  TERMINAL_STATUSES,
} from './batch/batch-record.js';
export {
  type BatchStore,
  type BatchStoreOptions,
  type BatchTransition,
  DEFAULT_BATCH_RETENTION_MS,
  DEFAULT_CLAIM_TTL_MS,
  type DueEmissions,
  type StepStart,
} from './batch/batch-store.js';
export {
  type CodecLimits,
  DEFAULT_MAX_BYTES,
  DEFAULT_MAX_DEPTH,
  decodeEnvelope,
  encodeEnvelope,
} from './codec.js';
export {
  createDeadLetterMetadata,
  DEAD_LETTER_HEADERS,
  DEAD_LETTER_OVERHEAD_BYTES,
  DEAD_LETTER_REASON_LIMITS,
  type DeadLetterInput,
  type DeadLetterMessage,
  type DeadLetterMetadata,
  type DeadLetterRecord,
  type DecodedDeadLetter,
  deadLetterHeaders,
  decodeDeadLetter,
  encodeDeadLetterFrame,
} from './dead-letter.js';
export {
  type BatchMeta,
  type Envelope,
  type EnvelopeMeta,
  type JsonObject,
  type JsonPrimitive,
  type JsonValue,
  SPEC_VERSION,
} from './envelope.js';
export {
  ConfigurationError,
  type ConfigurationErrorCode,
  DecodeError,
  type DecodeErrorCode,
  PayloadTooLargeError,
  ThrunError,
  type ThrunErrorOptions,
  TransportError,
  type TransportErrorCode,
  ValidationError,
  type ValidationErrorCode,
  type ValidationIssue,
} from './errors.js';
export {
  assertEventName,
  assertEventPattern,
  assertQueueName,
  compileEventPattern,
  deadLetterQueueName,
  isEventName,
  isEventPattern,
  isWildcardPattern,
  MAX_EVENT_NAME_LENGTH,
  matchEventPattern,
} from './event-name.js';
export { PROTOCOL_HEADERS } from './generated/protocol-headers.js';
export {
  type CloseOptions,
  type ConsumeOptions,
  type DeadLetterReason,
  type Delivery,
  type DeliveryHandler,
  type OutgoingMessage,
  type PublishOptions,
  type QueuedMessage,
  type Subscription,
  TRANSPORT_SPECIFICATION_VERSION,
  type Transport,
  type TransportCapabilities,
  type TransportSpecificationVersion,
} from './transport.js';
export {
  isValidDeadLetterRecord,
  isValidEnvelope,
  validateDeadLetterRecord,
  validateEnvelope,
} from './validators.js';
