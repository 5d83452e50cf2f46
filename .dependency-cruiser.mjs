// `pnpm lint:cycles`: no import cycle inside any package's `src` (apps included).

/** @type {import('dependency-cruiser').IConfiguration} */
export default {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'A module must not reach itself through its imports, type-only imports included.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    // dependency-cruiser cannot use TypeScript 7's compiler (it has no JavaScript API), so swc parses
    // the sources. `import type` lines count as well: swc reports them, and tsPreCompilationDeps
    // keeps them under any parser.
    parser: 'swc',
    tsPreCompilationDeps: true,
    doNotFollow: { path: 'node_modules' },
    // Only sources: another package is reached through its built `dist`, which is left out.
    exclude: { path: '(^|/)(dist|generated)/' },
  },
};
