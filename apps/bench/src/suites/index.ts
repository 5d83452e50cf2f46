import type { SuiteResult } from '../report.js';
import { codecSuite } from './codec.js';
import { kafkaSuite } from './kafka.js';

/** Every benchmark suite, by name. `pnpm bench [name…]` runs the named ones, or all of them. */
export const suites: Record<string, () => Promise<SuiteResult>> = {
  codec: codecSuite,
  kafka: kafkaSuite,
};
