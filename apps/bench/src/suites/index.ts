import type { SuiteResult } from '../report.js';
import { clusterSuite } from './cluster.js';
import { codecSuite } from './codec.js';
import { inProcess } from './in-process.js';
import { kafkaSuite } from './kafka.js';
import { rabbitmqSuite } from './rabbitmq.js';
import { redisSuite } from './redis.js';

/** Every benchmark suite, by name. `pnpm bench [name…]` runs the named ones, or all of them. */
export const suites: Record<string, () => Promise<SuiteResult>> = {
  codec: codecSuite,
  'in-process': inProcess,
  redis: redisSuite,
  rabbitmq: rabbitmqSuite,
  kafka: kafkaSuite,
  cluster: clusterSuite,
};
