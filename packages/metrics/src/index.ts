export { metricsHandler } from './http.js';
export {
  OTHER_EVENT,
  type QueueDepth,
  type ThrunMetrics,
  type ThrunMetricsOptions,
  thrunMetrics,
  UNDECODED_EVENT,
} from './metrics.js';
