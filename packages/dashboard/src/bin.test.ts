import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { REDIS_URL, requireRedis } from './test-support/fixture.js';

const BIN = fileURLToPath(new URL('../dist/bin.js', import.meta.url));
const CLI_BIN = join(
  dirname(createRequire(import.meta.url).resolve('@thrun/cli/package.json')),
  'dist/bin.js',
);

/** A PATH with `thrun-dashboard` on it, as installing the package puts it in node_modules/.bin. */
function pathWithDashboardBin(): string {
  const dir = mkdtempSync(join(tmpdir(), 'thrun-dashboard-bin-'));
  const shim = join(dir, 'thrun-dashboard');
  writeFileSync(shim, `#!/bin/sh\nexec node ${JSON.stringify(BIN)} "$@"\n`);
  chmodSync(shim, 0o755);
  return [dir, process.env.PATH].join(delimiter);
}

// The dashboard's own bin, and `thrun dashboard`, which runs it with the connection flags `thrun` took.
const COMMANDS: { name: string; argv: (args: string[]) => string[]; path: string | undefined }[] = [
  { name: 'thrun-dashboard', argv: (args: string[]) => [BIN, ...args], path: process.env.PATH },
  {
    name: 'thrun dashboard',
    argv: (args: string[]) => [CLI_BIN, ...args.slice(0, 2), 'dashboard', ...args.slice(2)],
    path: pathWithDashboardBin(),
  },
];

describe('thrun-dashboard', () => {
  it('refuses to listen off loopback without authentication, and says how to give it', async () => {
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = execFile(
        'node',
        [BIN, '--host', '0.0.0.0', '--port', '0', '--transport', 'redis', '--redis-url', REDIS_URL],
        (error, _o, stderr) => resolve({ code: error ? (error.code as number) : 0, stderr }),
      );
      child.stdin?.end();
    });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('needs authentication');
    expect(result.stderr).toContain('THRUN_DASHBOARD_TOKEN');
  });

  it.each(COMMANDS)(
    '$name serves with a token from the environment, prints no password, and refuses requests without the token',
    async ({ argv, path }) => {
      await requireRedis();
      const url = new URL(REDIS_URL);
      url.username = 'default';
      url.password = 'bin-secret-5f';
      const child = spawn(
        'node',
        argv(['--transport', 'redis', '--port', '0', '--redis-url', url.toString()]),
        {
          env: { ...process.env, PATH: path, THRUN_DASHBOARD_TOKEN: 'bin-token-1' },
        },
      );
      try {
        let stderr = '';
        child.stderr.on('data', (chunk) => (stderr += chunk));
        const exited = once(child, 'exit').then(() => Promise.reject(new Error(`exited: ${stderr}`)));
        const [line] = (await Promise.race([once(child.stdout, 'data'), exited])) as [Buffer];
        const printed = line.toString();
        expect(printed).not.toContain('bin-secret-5f');
        const address = /http:\/\/127\.0\.0\.1:\d+\//.exec(printed)?.[0];
        expect(address, printed).toBeDefined();
        expect((await fetch(`${address}api/overview`)).status).toBe(401);
        const ok = await fetch(`${address}api/overview`, {
          headers: { authorization: 'Bearer bin-token-1' },
        });
        expect(ok.status).toBe(200);
        expect(await ok.text()).not.toContain('bin-secret-5f');
      } finally {
        if (child.exitCode === null) {
          child.kill('SIGTERM');
          await once(child, 'exit');
        }
      }
    },
  );
});
