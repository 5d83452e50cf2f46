import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(new URL('../../dist/reference-worker.js', import.meta.url));
export const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

/** The command line of the built reference worker (or of one of its mutants). */
export function referenceWorker(mutant?: string): string {
  if (!existsSync(script)) throw new Error(`${script} is missing: build the package first (pnpm build)`);
  return mutant === undefined ? `node ${script}` : `node ${script} --mutant ${mutant}`;
}
