import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

it('on SIGTERM, finishes the job in flight, stops, then exits as the signal would', async () => {
  // Runs the built package in its own process: the signal must not reach the test runner.
  // A signal's default action skips 'exit' handlers, so 'acknowledged' (the ack after the job) is
  // the proof that the drain finished before the process died of SIGTERM.
  const script = fileURLToPath(new URL('./test-fixtures/sigterm-worker.mjs', import.meta.url));
  const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
    if (chunk.includes('started')) child.kill('SIGTERM');
  });
  let errors = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    errors += chunk;
  });
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.on('exit', (c, s) => resolve([c, s])),
  );
  expect(errors).toBe('');
  expect(output.trim().split('\n')).toEqual(['started', 'finished', 'acknowledged']);
  expect(signal).toBe('SIGTERM');
  expect(code).toBeNull();
});
