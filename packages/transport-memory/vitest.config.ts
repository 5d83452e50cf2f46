import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    // Run only by the mutation check, in a child vitest (see conformance-mutation.test.ts).
    exclude: ['**/node_modules/**', 'src/**/*.fixture.test.ts'],
  },
});
