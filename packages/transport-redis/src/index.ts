export { type RedisClient, redactUrl } from './connection.js';
export { type QueueKeys, queueKeys } from './keys.js';
export {
  Cluster,
  Redis,
  type RedisTransportMode,
  type RedisTransportOptions,
  redisTransport,
} from './redis-transport.js';
