import { readFileSync } from 'node:fs';
import { redactText } from '@thrun/contract/transport-kit';
import { Command, CommanderError, Option } from 'commander';
import { registerBatches } from './commands/batches.js';
import { registerDashboard } from './commands/dashboard.js';
import { registerDead } from './commands/dead.js';
import { registerDispatch } from './commands/dispatch.js';
import { registerQueues } from './commands/queues.js';
import { registerTail } from './commands/tail.js';
import { CONNECTION_ENV } from './connection.js';
import { CliError, EXIT, exitCodeOf } from './exit-codes.js';
import { jsonLine, safeText } from './output.js';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

/** `thrun` with every command; `exitOverride` so that errors come back here, never exit midway. */
export function buildProgram(): Command {
  const program = new Command('thrun')
    .description(
      'Operate Thrun queues on Redis, RabbitMQ and Kafka: counts, dead letters, batches, a live tail',
    )
    .version(version)
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ outputError: () => {} }) // printed once, by run()
    .option('--json', 'print JSON (one value per line) instead of tables')
    .option(
      '--config <file>',
      'a JSON config file (default: THRUN_CONFIG, else ./thrun.config.json if present)',
    );
  const flag = (name: string, key: keyof typeof CONNECTION_ENV, description: string) =>
    program.addOption(new Option(name, `${description} [env: ${CONNECTION_ENV[key]}]`));
  flag('--transport <kind>', 'transport', 'redis, rabbitmq or kafka (inferred from the one URL given)');
  flag('--redis-url <url>', 'redisUrl', 'Redis URL');
  flag('--redis-mode <mode>', 'redisMode', 'list or stream, as the workers use');
  flag('--redis-key-prefix <prefix>', 'redisKeyPrefix', "the workers' Redis key prefix");
  flag('--rabbitmq-url <url>', 'rabbitmqUrl', 'RabbitMQ URL (amqp:// or amqps://)');
  flag('--rabbitmq-queue-type <type>', 'rabbitmqQueueType', 'quorum or classic, as the workers use');
  flag('--kafka-brokers <list>', 'kafkaBrokers', 'Kafka bootstrap brokers, host:port,…');
  flag(
    '--batch-store-url <url>',
    'batchStoreUrl',
    "Redis URL of the batch store (default: the Redis transport's)",
  );
  flag('--queue <name>', 'queue', 'the queue to act on (default: events)');
  flag('--queues <list>', 'queues', 'more queues to report, comma-separated');
  flag('--groups <list>', 'groups', 'consumer groups to look for, comma-separated');
  registerQueues(program);
  registerDead(program);
  registerBatches(program);
  registerTail(program);
  registerDispatch(program);
  registerDashboard(program);
  return program;
}

/** Runs the command line; resolves with the exit code (documented in the README). */
export async function run(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  const json = argv.includes('--json');
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end with an "error" whose code is 0.
      if (error.exitCode === 0) return EXIT.ok;
      report(error.message.replace(/^error: /, ''), json);
      return EXIT.usage;
    }
    report(error instanceof Error ? error.message : String(error), json, error);
    return exitCodeOf(error);
  }
}

/** Errors go to stderr, credentials removed; with --json as `{"error":{message,code}}`. */
function report(message: string, json: boolean, error?: unknown): void {
  const text = safeText(redactText(message));
  const code = error instanceof CliError ? undefined : (error as { code?: unknown } | undefined)?.code;
  if (json)
    process.stderr.write(
      `${jsonLine({ error: { message: text, ...(typeof code === 'string' ? { code } : {}) } })}\n`,
    );
  else process.stderr.write(`thrun: ${text}\n`);
}
