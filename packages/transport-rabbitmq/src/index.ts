export { type RabbitmqTransportOptions, rabbitmqTransport } from './rabbitmq-transport.js';
export type { QueueType } from './declare.js';
export { delayBucketMs, topology } from './topology.js';
