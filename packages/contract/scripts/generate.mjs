// Copies the repository's schemas into the package (they ship with it) before compiling.
import { cpSync, existsSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../schemas/', import.meta.url));
const target = fileURLToPath(new URL('../schemas/', import.meta.url));
if (existsSync(root)) {
  rmSync(target, { recursive: true, force: true });
  cpSync(root, target, { recursive: true });
}
