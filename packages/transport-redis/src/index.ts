export type { RedisClient } from './connection.js';
export { type QueueKeys, queueKeys } from './keys.js';
export {
  type BatchKeys,
  batchKeys,
  type RedisBatchStore,
  type RedisBatchStoreOptions,
  redisBatchStore,
} from './redis-batch-store.js';
export {
  Cluster,
  Redis,
  type RedisTransportMode,
  type RedisTransportOptions,
  redisTransport,
} from './redis-transport.js';
