import { assertQueueName, deadLetterQueueName, matchEventPattern } from '@thrun/contract';
import type { DeadLetterEntry } from '@thrun/core';
import type { Command } from 'commander';
import { CliError, EXIT } from '../exit-codes.js';
import { confirm, jsonLine, ProgressBar, prettyJson, safeText, table } from '../output.js';
import { type GlobalOptions, Session } from '../session.js';
import { nonNegativeInteger, positiveInteger } from './arguments.js';

interface FilterOptions {
  event?: string;
  reason?: string;
  limit?: number;
}

/** Read at most this many records when a filter has to look at every one. */
const SCAN_LIMIT = 100_000;

/** The event name of an entry, or undefined when its bytes are not a valid envelope. */
const eventOf = (entry: DeadLetterEntry) => entry.envelope?.event;

/** `--event` takes a name or a pattern (`order.*`), `--reason` a reason code (`invalid_json`). */
function matcher(options: FilterOptions): (entry: DeadLetterEntry) => boolean {
  return (entry) => {
    if (options.event !== undefined) {
      const event = eventOf(entry);
      if (event === undefined || !matchEventPattern(options.event, event)) return false;
    }
    return options.reason === undefined || entry.error.code === options.reason;
  };
}

/** An entry as `--json` shows it: the original bytes in base64 (they may not be text), and decoded. */
function entryJson(entry: DeadLetterEntry) {
  return {
    position: entry.position,
    queue: entry.queue,
    event: eventOf(entry) ?? null,
    reason: entry.error,
    attempts: entry.attempts,
    failedAt: entry.failedAt,
    form: entry.form,
    body: Buffer.from(entry.body).toString('base64'),
    envelope: entry.envelope ?? null,
  };
}

function entriesTable(entries: readonly DeadLetterEntry[]): string {
  const shorten = (text: string) => (text.length > 60 ? `${text.slice(0, 59)}…` : text);
  return table(
    ['POS', 'EVENT', 'REASON', 'ATTEMPTS', 'FAILED AT', 'MESSAGE'],
    entries.map((entry) => [
      entry.position,
      eventOf(entry) ?? '(not an envelope)',
      entry.error.code,
      entry.attempts,
      entry.failedAt,
      shorten(entry.error.message),
    ]),
  );
}

async function matching(session: Session, queue: string, options: FilterOptions): Promise<DeadLetterEntry[]> {
  const entries = await session.bus().deadLetters.list(queue, { limit: SCAN_LIMIT });
  return entries.filter(matcher(options)).slice(0, options.limit ?? Number.POSITIVE_INFINITY);
}

/** The queue whose dead letters a command reads: `--queue`, `THRUN_QUEUE` or `events`. */
function queueOf(session: Session): string {
  const queue = session.settings.queue;
  assertQueueName(queue);
  return queue;
}

export function registerDead(program: Command): void {
  const dead = program.command('dead').description('the dead-letter queue: list, show, replay, purge');
  const filters = (command: Command) =>
    command
      .option('--event <name>', 'only dead letters of this event (a name or a pattern such as order.*)')
      .option('--reason <code>', 'only dead letters with this reason code (invalid_json, max_attempts, …)')
      .option('--limit <n>', 'at most n dead letters', positiveInteger);

  filters(dead.command('list').description('dead letters, oldest first')).action(
    async (options: FilterOptions, command: Command) => {
      const session = new Session(command.optsWithGlobals<GlobalOptions>());
      try {
        const entries = await matching(session, queueOf(session), options);
        if (session.json) process.stdout.write(`${jsonLine(entries.map(entryJson))}\n`);
        else process.stdout.write(`${entries.length === 0 ? 'no dead letters' : entriesTable(entries)}\n`);
      } finally {
        await session.close();
      }
    },
  );

  dead
    .command('show')
    .description('one dead letter: its reason, attempts, decoded envelope and original bytes')
    .argument('<position>', 'its position, as `thrun dead list` shows it', nonNegativeInteger)
    .action(async (position: number, _options: unknown, command: Command) => {
      const session = new Session(command.optsWithGlobals<GlobalOptions>());
      try {
        const queue = queueOf(session);
        const entry = await session.bus().deadLetters.inspect(queue, position);
        if (!entry)
          throw new CliError(
            EXIT.notFound,
            `no dead letter at position ${position} of ${deadLetterQueueName(queue)}`,
          );
        if (session.json) {
          process.stdout.write(`${jsonLine(entryJson(entry))}\n`);
          return;
        }
        const text = Buffer.from(entry.body).toString('utf8');
        process.stdout.write(
          [
            `position:   ${entry.position}`,
            `queue:      ${safeText(entry.queue)}`,
            `event:      ${safeText(eventOf(entry) ?? '(not an envelope)')}`,
            `reason:     ${safeText(entry.error.code)}: ${safeText(entry.error.message)}`,
            `attempts:   ${entry.attempts}`,
            `failed at:  ${safeText(entry.failedAt)}`,
            `stored as:  ${entry.form}`,
            entry.envelope
              ? `envelope:\n${prettyJson(entry.envelope)}`
              : 'envelope:   (the bytes are not a valid envelope)',
            // As a JSON string: every byte visible, nothing the terminal could interpret.
            `bytes (${entry.body.byteLength}): ${safeText(JSON.stringify(text))}`,
            '',
          ].join('\n'),
        );
      } finally {
        await session.close();
      }
    });

  filters(dead.command('replay').description('publish dead letters back to their queue as new messages'))
    .option('--dry-run', 'show what would be replayed, change nothing')
    .option('--progress', 'draw the progress bar on stderr even when it is not a terminal')
    .option('--no-progress', 'never draw the progress bar')
    .action(async (options: FilterOptions & { dryRun?: boolean; progress?: boolean }, command: Command) => {
      const session = new Session(command.optsWithGlobals<GlobalOptions>());
      try {
        const queue = queueOf(session);
        if (options.dryRun) {
          const entries = await matching(session, queue, options);
          if (session.json) {
            process.stdout.write(
              `${jsonLine({ dryRun: true, wouldReplay: entries.length, entries: entries.map(entryJson) })}\n`,
            );
          } else {
            process.stdout.write(
              `${entries.length === 0 ? 'nothing to replay' : `${entriesTable(entries)}\n\nwould replay ${entries.length} (dry run: nothing changed)`}\n`,
            );
          }
          return;
        }
        // --progress forces the bar, --no-progress hides it; by default it shows on a terminal.
        const drawn = options.progress ?? process.stderr.isTTY === true;
        const bar = new ProgressBar(process.stderr, drawn, 'replaying');
        const report = await session.bus().deadLetters.replay(queue, {
          filter: matcher(options),
          ...(options.limit === undefined ? {} : { limit: options.limit }),
          onProgress: (progress) =>
            bar.update(progress.seen, progress.total, `replayed ${progress.replayed}, kept ${progress.kept}`),
        });
        bar.end();
        if (session.json) process.stdout.write(`${jsonLine(report)}\n`);
        else process.stdout.write(`replayed ${report.replayed}, kept ${report.kept}\n`);
      } finally {
        await session.close();
      }
    });

  dead
    .command('purge')
    .description('delete every dead letter of the queue, for good')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(async (options: { yes?: boolean }, command: Command) => {
      const session = new Session(command.optsWithGlobals<GlobalOptions>());
      try {
        const queue = queueOf(session);
        const target = deadLetterQueueName(queue);
        if (!options.yes && !(await confirm(`Delete every dead letter of ${target} for good?`))) {
          throw new CliError(
            EXIT.usage,
            `not confirmed: nothing purged (pass --yes to purge ${target} without asking)`,
          );
        }
        const purged = await session.bus().deadLetters.purge(queue);
        if (session.json) process.stdout.write(`${jsonLine({ purged })}\n`);
        else process.stdout.write(`purged ${purged} dead letters of ${target}\n`);
      } finally {
        await session.close();
      }
    });
}
