// Runs before `tsc` (the package's `build`): resolves the Redis scripts of `protocol/redis/` into
// `src/generated/scripts.ts`, so the package runs exactly those files (`scripts.test.ts` checks it).
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { readScripts, renderModule } from './lua.mjs';

const generated = fileURLToPath(new URL('../src/generated/', import.meta.url));
mkdirSync(generated, { recursive: true });
writeFileSync(`${generated}scripts.ts`, renderModule(readScripts()));
