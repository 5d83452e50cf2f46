import type { SuiteResult } from '../report.js';
import { clusterSuite } from './cluster.js';
import { codecSuite } from './codec.js';
import { inProcess } from './in-process.js';
import { kafkaSuite } from './kafka.js';
import { rabbitmqSuite } from './rabbitmq.js';
import { redisLatencySuite, redisSuite } from './redis.js';
import { scalingSuite } from './scaling.js';

/** Every benchmark suite, by name. `pnpm bench [name…]` runs the named ones, or all of them. */
export const suites: Record<string, () => Promise<SuiteResult>> = {
  codec: codecSuite,
  'in-process': inProcess,
  redis: redisSuite,
  rabbitmq: rabbitmqSuite,
  kafka: kafkaSuite,
  cluster: clusterSuite,
};

/**
 * Run only when named: `pnpm bench scaling` takes minutes and measures growth, not ratios;
 * `pnpm bench redis-latency` repeats only the latency cases of the Redis suite.
 */
export const namedOnly: Record<string, () => Promise<SuiteResult>> = {
  scaling: scalingSuite,
  'redis-latency': redisLatencySuite,
};
