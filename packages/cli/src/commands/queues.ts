import type { QueueStats } from '@thrun/contract';
import type { Command } from 'commander';
import { CliError, EXIT } from '../exit-codes.js';
import { jsonLine, table } from '../output.js';
import { type GlobalOptions, requireFeature, Session } from '../session.js';
import { positiveInteger } from './arguments.js';

const count = (value: number | undefined) => (value === undefined ? '-' : value);

/** The table `thrun queues` prints; `-` where the broker cannot tell a count. */
export function queuesTable(rows: readonly QueueStats[]): string {
  return table(
    ['QUEUE', 'GROUP', 'WAITING', 'IN FLIGHT', 'DELAYED', 'DEAD', 'CONSUMERS'],
    rows.map((row) => [
      row.queue,
      row.group ?? '-',
      row.waiting,
      count(row.inFlight),
      count(row.delayed),
      count(row.dead),
      count(row.consumers),
    ]),
  );
}

export function registerQueues(program: Command): void {
  program
    .command('queues')
    .description('every queue with its waiting, in-flight, delayed and dead counts, per consumer group')
    .option('--watch [ms]', 'refresh every ms milliseconds (default 2000) until interrupted')
    .option('--times <n>', 'with --watch: stop after n refreshes', positiveInteger)
    .action(async (options: { watch?: boolean | string; times?: number }, command: Command) => {
      const session = new Session(command.optsWithGlobals<GlobalOptions>());
      const intervalMs =
        options.watch === undefined || options.watch === true ? 2_000 : Number(options.watch);
      if (!Number.isFinite(intervalMs) || intervalMs < 100) {
        throw new CliError(EXIT.usage, '--watch takes an interval of at least 100 ms');
      }
      try {
        const transport = session.transport();
        const inspect = requireFeature(transport.inspect?.bind(transport), 'inspect queues', transport.name);
        const snapshot = () => inspect({ queues: session.settings.queues, groups: session.settings.groups });
        const print = (rows: QueueStats[]) => {
          if (session.json) {
            process.stdout.write(`${jsonLine(rows)}\n`);
            return;
          }
          // Redraw in place on a terminal; a pipe gets one table after another.
          if (options.watch !== undefined && process.stdout.isTTY) process.stdout.write('\u001b[H\u001b[2J');
          const heading = `${session.where}  ${new Date().toISOString()}`;
          process.stdout.write(
            `${options.watch === undefined ? '' : `${heading}\n\n`}${queuesTable(rows)}\n`,
          );
        };
        if (options.watch === undefined) {
          print(await snapshot());
          return;
        }
        await watch(async () => print(await snapshot()), intervalMs, options.times);
      } finally {
        await session.close();
      }
    });
}

/** Runs `tick` every `intervalMs` until SIGINT/SIGTERM or `times` runs; resolves, so the exit code is 0. */
async function watch(
  tick: () => Promise<void>,
  intervalMs: number,
  times: number | undefined,
): Promise<void> {
  let stopped = false;
  let wake: () => void = () => {};
  const stop = () => {
    stopped = true;
    wake();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    for (let run = 1; !stopped; run++) {
      await tick();
      if (times !== undefined && run >= times) break;
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, intervalMs).unref();
      });
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
