import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The built `thrun`, run as a person would: a separate process with its own environment. */
export const BIN = fileURLToPath(new URL('../../dist/bin.js', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment a test gives the CLI: nothing of the test runner's THRUN_* settings leaks in. */
export function cliEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('THRUN_')) env[key] = value;
  return { ...env, KAFKAJS_NO_PARTITIONER_WARNING: '1', ...extra };
}

export function startCli(args: readonly string[], env: Record<string, string>, cwd?: string): ChildProcess {
  return spawn(process.execPath, [BIN, ...args], {
    env: cliEnv(env),
    stdio: ['pipe', 'pipe', 'pipe'],
    ...(cwd ? { cwd } : {}),
  });
}

/** Runs `thrun args…` to completion and collects its output. */
export function runCli(
  args: readonly string[],
  env: Record<string, string>,
  cwd?: string,
): Promise<CliResult> {
  const child = startCli(args, env, cwd);
  child.stdin?.end();
  return collect(child);
}

export function collect(child: ChildProcess): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

/** Parses the one JSON value a `--json` command printed. */
export function json<T = unknown>(result: CliResult): T {
  if (result.code !== 0) throw new Error(`thrun exited ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}
