/**
 * The transport kit: the rules every transport implements the same way, written once. Adapters import
 * it from `@thrun/contract/transport-kit`; applications never need it.
 */
export { abortable } from './abortable.js';
export { assertPayloadsFit, transportClosedError } from './checks.js';
export { type DeadLetterCopy, deadLetterCopy } from './dead-letter.js';
export {
  type CheckedConsumeOptions,
  type DrainingConsumer,
  defineTransport,
  type TransportDefinition,
} from './define-transport.js';
export { type OptionChecks, optionChecks } from './options.js';
export { redactText, redactUrl } from './redact.js';
export {
  type DeliveryOutcome,
  drainWithin,
  refusalDelayMs,
  runDelivery,
  Settlement,
  type SettlementState,
  settlesWithin,
  startDelivery,
} from './settlement.js';
