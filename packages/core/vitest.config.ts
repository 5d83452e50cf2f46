import { transform } from 'esbuild';
import { defineConfig, type Plugin } from 'vitest/config';

/**
 * Vite's own TypeScript transform (oxc) leaves TC39 standard decorators untouched, and Node 20 cannot
 * run them, so test files go through esbuild, which lowers them the way `tsc` does for the build.
 */
function standardDecorators(): Plugin {
  return {
    name: 'thrun:standard-decorators',
    enforce: 'pre',
    async transform(code, id) {
      if (!/\.[cm]?ts$/.test(id) || id.includes('/node_modules/')) return null;
      const result = await transform(code, {
        loader: 'ts',
        target: 'es2022',
        format: 'esm',
        sourcemap: true,
        sourcefile: id,
      });
      return { code: result.code, map: result.map };
    },
  };
}

export default defineConfig({
  oxc: false,
  plugins: [standardDecorators()],
  test: {
    include: ['src/**/*.test.ts'],
    // Generous: the machine is shared, and tests wait for real timers.
    testTimeout: 30_000,
  },
});
