export { createMemoryBroker, MemoryBroker } from './memory-broker.js';
export { type MemoryTransportOptions, memoryTransport } from './memory-transport.js';
