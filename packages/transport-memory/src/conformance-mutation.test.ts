/**
 * A test of the conformance suite itself: the suite must catch a transport that loses a message,
 * delivers one twice, breaks FIFO order, whose ack does nothing or whose inspection miscounts, and must pass the unmutated transport.
 * `conformance-mutants.fixture.test.ts` holds the mutants; it runs here in a child vitest so that its
 * expected failures stay out of this run, and its JSON report says which cases failed.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

interface JsonReport {
  testResults: { assertionResults: { ancestorTitles: string[]; title: string; status: string }[] }[];
}

const packageDirectory = fileURLToPath(new URL('..', import.meta.url));
const vitestCli = join(dirname(createRequire(import.meta.url).resolve('vitest/package.json')), 'vitest.mjs');
const outputDirectory = mkdtempSync(join(tmpdir(), 'thrun-mutants-'));

/** Case id → outcome, per suite (`mutant:none`, `mutant:drop`, …). */
const outcomes = new Map<string, Map<string, string>>();

function outcomesOf(mutant: string): Map<string, string> {
  const found = outcomes.get(`transport conformance: mutant:${mutant}`);
  if (!found) throw new Error(`no results for mutant ${mutant}; suites: ${[...outcomes.keys()].join(', ')}`);
  return found;
}

function failedCases(mutant: string): string[] {
  return [...outcomesOf(mutant)].filter(([, status]) => status === 'failed').map(([id]) => id);
}

beforeAll(async () => {
  const outputFile = join(outputDirectory, 'report.json');
  const child = spawn(
    process.execPath,
    [
      vitestCli,
      'run',
      '--config',
      'vitest.mutants.config.ts',
      '--reporter=json',
      `--outputFile=${outputFile}`,
    ],
    { cwd: packageDirectory, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, CI: 'true' } },
  );
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  // The mutants fail on purpose, so the child exits 1; anything else means it did not run.
  expect(code, `child vitest exited with ${code}: ${stderr.slice(-2_000)}`).toBe(1);
  const report = JSON.parse(readFileSync(outputFile, 'utf8')) as JsonReport;
  for (const file of report.testResults) {
    for (const test of file.assertionResults) {
      const suite = test.ancestorTitles[0] ?? '';
      const id = test.title.slice(0, test.title.indexOf(':'));
      if (!outcomes.has(suite)) outcomes.set(suite, new Map());
      outcomes.get(suite)!.set(id, test.status);
    }
  }
}, 180_000);

afterAll(() => rmSync(outputDirectory, { recursive: true, force: true }));

describe('the conformance suite catches broken transports', () => {
  it('passes the unmutated memory transport', () => {
    const control = outcomesOf('none');
    expect(failedCases('none')).toEqual([]);
    expect([...control.values()].filter((status) => status === 'passed').length).toBeGreaterThanOrEqual(20);
  });

  it('fails a transport that drops a message', () => {
    expect(failedCases('drop')).toEqual(
      expect.arrayContaining([
        'round-trip',
        'concurrent-publishers',
        'competing-consumers',
        'fanout',
        'fifo-order',
      ]),
    );
  });

  it('fails a transport that delivers a message twice', () => {
    expect(failedCases('duplicate')).toEqual(
      expect.arrayContaining(['round-trip', 'concurrent-publishers', 'competing-consumers', 'fanout']),
    );
  });

  it('fails a transport that reorders a FIFO queue', () => {
    expect(failedCases('reorder')).toContain('fifo-order');
  });

  it('fails a transport whose ack does nothing, once its lease runs out', () => {
    expect(failedCases('lost-ack')).toEqual(expect.arrayContaining(['ack-removes', 'close-drains']));
  });

  it('fails a transport whose inspection counts settled messages as waiting', () => {
    expect(failedCases('counts-settled')).toEqual(['inspect-waiting', 'inspect-dead']);
  });

  it('reports the skipped cases with their reason instead of running them', () => {
    expect(outcomesOf('none').get('persistence')).toBe('skipped');
  });
});
