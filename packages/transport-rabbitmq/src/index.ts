export type { QueueType } from './declare.js';
export { type RabbitmqTransportOptions, rabbitmqTransport } from './rabbitmq-transport.js';
export { delayBucketMs, topology } from './topology.js';
