import { defineConfig } from 'vitest/config';

// One file at a time: the ledger and batch runs kill cluster nodes, which must not land in another
// file's run. Conformance first, the kill runs after it.
export default defineConfig({
  test: {
    fileParallelism: false,
    sequence: { shuffle: false },
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
