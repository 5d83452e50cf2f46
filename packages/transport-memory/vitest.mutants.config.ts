import { defineConfig } from 'vitest/config';

// The conformance suite against deliberately broken memory transports; see conformance-mutation.test.ts.
export default defineConfig({
  test: {
    include: ['src/conformance-mutants.fixture.test.ts'],
  },
});
