import type { BatchStatus } from '@thrun/contract';
import type { BatchStatusView } from '@thrun/core';
import { type Command, InvalidArgumentError } from 'commander';
import { CliError, EXIT } from '../exit-codes.js';
import { confirm, jsonLine, prettyJson, table } from '../output.js';
import { type GlobalOptions, Session } from '../session.js';
import { collect, positiveInteger } from './arguments.js';

const STATUSES: readonly BatchStatus[] = ['pending', 'running', 'succeeded', 'failed', 'cancelled'];

function status(value: string, previous: BatchStatus[] = []): BatchStatus[] {
  if (!(STATUSES as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(`must be one of ${STATUSES.join(', ')}`);
  }
  return collect(value, previous) as BatchStatus[];
}

function progressBar(view: BatchStatusView): string {
  const width = 20;
  const filled = Math.round((view.percent / 100) * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
}

function batchesTable(views: readonly BatchStatusView[]): string {
  return table(
    ['ID', 'NAME', 'STATUS', 'PROGRESS', 'DONE', 'FAILED', 'TOTAL', 'CREATED'],
    views.map((view) => [
      view.id,
      view.name ?? '-',
      view.stalled ? `${view.status} (stalled)` : view.status,
      `${progressBar(view)} ${view.percent}%`,
      view.completed,
      view.failed,
      view.total,
      view.createdAt,
    ]),
  );
}

async function find(session: Session, id: string): Promise<BatchStatusView> {
  const view = await session.bus({ batches: true }).batches.get(id);
  if (!view)
    throw new CliError(EXIT.notFound, `no batch ${JSON.stringify(id).slice(0, 80)} in the batch store`);
  return view;
}

export function registerBatches(program: Command): void {
  const batches = program.command('batches').description('batches: list, show, cancel');

  batches
    .command('list')
    .description('batches the store holds, newest first')
    .option('--status <status>', 'only batches in this state (repeatable)', status)
    .option('--name <name>', 'only batches of this name')
    .option('--limit <n>', 'at most n batches (default 100)', positiveInteger)
    .action(async (options: { status?: BatchStatus[]; name?: string; limit?: number }, command: Command) => {
      const session = new Session(command.optsWithGlobals<GlobalOptions>());
      try {
        const views = await session.bus({ batches: true }).batches.list({
          ...(options.status ? { status: options.status } : {}),
          ...(options.name === undefined ? {} : { name: options.name }),
          ...(options.limit === undefined ? {} : { limit: options.limit }),
        });
        if (session.json) process.stdout.write(`${jsonLine(views)}\n`);
        else process.stdout.write(`${views.length === 0 ? 'no batches' : batchesTable(views)}\n`);
      } finally {
        await session.close();
      }
    });

  batches
    .command('show')
    .description("one batch's progress and lifecycle")
    .argument('<id>', 'the batch id')
    .action(async (id: string, _options: unknown, command: Command) => {
      const session = new Session(command.optsWithGlobals<GlobalOptions>());
      try {
        const view = await find(session, id);
        if (session.json) process.stdout.write(`${jsonLine(view)}\n`);
        else process.stdout.write(`${batchesTable([view])}\n\n${prettyJson(view)}\n`);
      } finally {
        await session.close();
      }
    });

  batches
    .command('cancel')
    .description('stop a batch: no further step runs; catch (reason cancelled) and finally fire')
    .argument('<id>', 'the batch id')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(async (id: string, options: { yes?: boolean }, command: Command) => {
      const session = new Session(command.optsWithGlobals<GlobalOptions>());
      try {
        const view = await find(session, id);
        if (!options.yes && !(await confirm(`Cancel batch ${view.id} (${view.status}, ${view.percent}%)?`))) {
          throw new CliError(
            EXIT.usage,
            'not confirmed: nothing cancelled (pass --yes to cancel without asking)',
          );
        }
        const cancelled = await session.bus({ batches: true }).batches.cancel(view.id);
        if (session.json) process.stdout.write(`${jsonLine({ id: view.id, cancelled })}\n`);
        else
          process.stdout.write(
            cancelled ? `cancelled ${view.id}\n` : `${view.id} had already ended (${view.status})\n`,
          );
        if (!cancelled) process.exitCode = EXIT.failed;
      } finally {
        await session.close();
      }
    });
}
