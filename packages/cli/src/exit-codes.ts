import { ConfigurationError, DecodeError, PayloadTooLargeError, ValidationError } from '@thrun/contract';

/** The exit codes of `thrun`, documented in the package README. */
export const EXIT = {
  ok: 0,
  /** The operation failed: the broker refused or could not be reached. */
  failed: 1,
  /** The command line was wrong: unknown option, invalid JSON or event name, a refused confirmation. */
  usage: 2,
  /** No transport configured, or the transport cannot do what was asked. */
  configuration: 3,
  /** What was named does not exist: a dead letter position, a batch id. */
  notFound: 4,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error the CLI reports as its message and exit code, without a stack. */
export class CliError extends Error {
  constructor(
    readonly exitCode: ExitCode,
    message: string,
  ) {
    super(message);
  }
}

export function exitCodeOf(error: unknown): ExitCode {
  if (error instanceof CliError) return error.exitCode;
  if (ConfigurationError.isInstance(error)) return EXIT.configuration;
  if (
    ValidationError.isInstance(error) ||
    DecodeError.isInstance(error) ||
    PayloadTooLargeError.isInstance(error)
  ) {
    return EXIT.usage;
  }
  return EXIT.failed;
}
