import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { CLI, referenceWorker } from './test-support/reference.js';

const run = (args: string[]) =>
  promisify(execFile)('node', [CLI, ...args]).then(
    ({ stdout }) => ({ code: 0, stdout }),
    (error: { code: number; stdout: string; stderr: string }) => ({
      code: error.code,
      stdout: `${error.stdout}${error.stderr}`,
    }),
  );

const scenarios = (...names: string[]) => names.flatMap((name) => ['--scenario', name]);

describe('thrun-conformance', () => {
  // Independent runs on their own queues: all at once.
  const json = join(mkdtempSync(join(tmpdir(), 'thrun-conformance-')), 'report.json');
  const passing = run([
    '--transport',
    'redis',
    '--worker',
    referenceWorker(),
    ...scenarios('handled-once', 'unknown-event'),
    '--json',
    json,
  ]);
  const excused = run([
    '--transport',
    'redis',
    '--worker',
    referenceWorker('swallow-bad-input'),
    ...scenarios('handled-once', 'unknown-event'),
    '--unsupported',
    'unknown-event=drops unknown events',
    '--wait-ms',
    '5000',
  ]);
  const stale = run([
    '--transport',
    'redis',
    '--worker',
    referenceWorker(),
    ...scenarios('handled-once'),
    '--unsupported',
    'handled-once=cannot',
  ]);

  for (const pending of [passing, excused, stale]) pending.catch(() => {});

  it('prints a line per scenario and the counts, and exits 0 when all passed', async () => {
    const { code, stdout } = await passing;
    expect(stdout).toMatch(/^PASS handled-once \(\d+ ms\)$/m);
    expect(stdout).toMatch(/^PASS unknown-event \(\d+ ms\)$/m);
    expect(stdout.trim().split('\n').at(-1)).toBe('2 passed, 0 failed');
    expect(code).toBe(0);
  });

  it('writes the report as JSON when asked', async () => {
    await passing;
    const report = JSON.parse(readFileSync(json, 'utf8'));
    expect(report).toMatchObject({ transport: 'redis', passed: 2, failed: 0, skipped: 0 });
    expect(
      report.results.map((result: { name: string; status: string }) => [result.name, result.status]),
    ).toEqual([
      ['handled-once', 'passed'],
      ['unknown-event', 'passed'],
    ]);
  });

  it('reports a failing scenario the runtime declared unsupported as skipped, with the reason', async () => {
    const { code, stdout } = await excused;
    expect(stdout).toMatch(/^SKIP unknown-event \(drops unknown events\)$/m);
    expect(stdout.trim().split('\n').at(-1)).toBe('1 passed, 0 failed, 1 skipped');
    expect(code).toBe(0);
  });

  it('fails a scenario declared unsupported that passes, and exits 1', async () => {
    const { code, stdout } = await stale;
    expect(stdout).toMatch(/^FAIL handled-once: unexpected pass: declared unsupported \(cannot\)$/m);
    expect(stdout.trim().split('\n').at(-1)).toBe('0 passed, 1 failed');
    expect(code).toBe(1);
  });

  it('refuses an unknown scenario and a missing worker with status 2', async () => {
    const unknown = await run(['--transport', 'redis', '--worker', 'true', ...scenarios('no-such-scenario')]);
    expect(unknown.code).toBe(2);
    expect(unknown.stdout).toContain('unknown scenario no-such-scenario');
    expect((await run(['--transport', 'redis'])).code).toBe(2);
  });

  it('fails every scenario of a worker that never becomes ready, naming why', async () => {
    const { code, stdout } = await run([
      '--transport',
      'redis',
      '--worker',
      'echo not a worker',
      ...scenarios('handled-once'),
    ]);
    expect(stdout).toMatch(/^FAIL handled-once: .*exited \(status 0\) before it was ready/m);
    expect(code).toBe(1);
  });
});
