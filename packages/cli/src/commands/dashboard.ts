import { spawn } from 'node:child_process';
import { delimiter, join } from 'node:path';
import type { Command } from 'commander';
import { CliError, EXIT } from '../exit-codes.js';

/**
 * `thrun dashboard`: runs `thrun-dashboard`, the bin of `@thrun/dashboard`, the way `git <name>` runs
 * `git-<name>`. The dashboard depends on this package (for the connection module), so the CLI finds it
 * on the PATH (or in ./node_modules/.bin) rather than importing it. Connection flags given to `thrun`
 * are passed on, so both commands take the same ones.
 */
export function registerDashboard(program: Command): void {
  program
    .command('dashboard')
    .description('serve the web dashboard (needs @thrun/dashboard installed): --port 3000, --host, …')
    .argument('[options...]', 'the options of thrun-dashboard (thrun dashboard --help lists them)')
    .allowUnknownOption()
    .helpOption(false)
    .action(async (rest: string[], _options: unknown, command: Command) => {
      process.exitCode = await runDashboard([...connectionFlags(program, command), ...rest]);
    });
}

/** The connection options `thrun` parsed (they are global), written back as flags. */
function connectionFlags(program: Command, command: Command): string[] {
  const given = command.optsWithGlobals<Record<string, unknown>>();
  return program.options.flatMap((option) => {
    const value = given[option.attributeName()];
    return option.long && typeof value === 'string' ? [option.long, value] : [];
  });
}

function runDashboard(args: string[]): Promise<number> {
  const path = [process.env.PATH, join(process.cwd(), 'node_modules', '.bin')].filter(Boolean);
  const child = spawn('thrun-dashboard', args, {
    stdio: 'inherit',
    env: { ...process.env, PATH: path.join(delimiter) },
  });
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  process.on('SIGINT', forward).on('SIGTERM', forward);
  return new Promise<number>((resolve, reject) => {
    child.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'ENOENT'
          ? new CliError(
              EXIT.configuration,
              'thrun dashboard needs @thrun/dashboard (npm i @thrun/dashboard): thrun-dashboard was not found',
            )
          : error,
      ),
    );
    child.once('exit', (code, signal) => resolve(code ?? (signal ? EXIT.failed : EXIT.ok)));
  }).finally(() => {
    process.off('SIGINT', forward).off('SIGTERM', forward);
  });
}
