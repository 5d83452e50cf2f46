import { describeBatchStore } from '@thrun/contract/conformance';
import { MemoryBatchStore } from './memory-batch-store.js';

// The same scenarios run against the Redis store (packages/transport-redis): both agree with the pure
// transitions, so they agree with each other.
describeBatchStore('memory', { create: (options) => new MemoryBatchStore(options) });
