import { type logCreator, logLevel } from 'kafkajs';
import { describe } from './errors.js';

const LEVEL_NAMES = new Map<logLevel, string>([
  [logLevel.ERROR, 'ERROR'],
  [logLevel.WARN, 'WARN'],
  [logLevel.INFO, 'INFO'],
  [logLevel.DEBUG, 'DEBUG'],
]);

/**
 * kafkajs' log lines, on stderr, with only the message and a few safe fields: never the `extra`
 * objects whole, which can carry connection options (and so SASL credentials).
 */
export const stderrLogCreator: logCreator = () => {
  const lastLogged = new Map<string, number>();
  return ({ level, log }) => {
    const { message, error, groupId, topic } = log as {
      message?: string;
      error?: string;
      groupId?: string;
      topic?: string;
    };
    // We bound the idempotent producer's retries on purpose (see the `retry` default in options.ts).
    if (message?.startsWith('Limiting retries for the idempotent producer')) return;
    // Someone else created the topic first: kafkajs logs it, then carries on as intended.
    if (message?.startsWith('Response CreateTopics') && error === 'Topic creation errors') return;
    // Looking a topic up before creating it: "unknown topic" is the expected answer then.
    if (message?.startsWith('Response Metadata') && error?.includes('does not host this topic-partition'))
      return;
    // While a broker is away, kafkajs logs every reconnection attempt: once a while is enough.
    const line = `${message}|${error}`;
    const now = Date.now();
    if ((lastLogged.get(line) ?? 0) > now - 5_000) return;
    lastLogged.set(line, now);
    if (lastLogged.size > 100) lastLogged.clear();
    const context = [groupId && `group=${groupId}`, topic && `topic=${topic}`, error && `error=${error}`]
      .filter(Boolean)
      .join(' ');
    process.stderr.write(
      `[thrun:kafka] ${LEVEL_NAMES.get(level) ?? 'LOG'} ${message ?? ''}${context ? ` (${context})` : ''}\n`,
    );
  };
};

/** Reports an error nobody awaits (a failed release, a failed commit) as a process warning. */
export function warn(error: unknown): void {
  process.emitWarning(`[thrun:kafka] ${describe(error)}`, { code: 'THRUN_KAFKA' });
}
