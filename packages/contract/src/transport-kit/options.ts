import { ConfigurationError } from '../errors.js';

/**
 * Option checking with one error style for every transport: `[thrun:<transport>] <option> must be …,
 * got <value>`. Each check returns `fallback` when the option is not given. Values are shown only for
 * numbers and enumerations: an option that could hold a credential is checked by the transport itself.
 */
export interface OptionChecks {
  /** A safe integer ≥ 1 (concurrency, prefetch, sizes). */
  positiveInteger(name: string, value: number | undefined, fallback: number): number;
  /** A finite number > 0 (timeouts that cannot be zero). */
  positiveNumber(name: string, value: number | undefined, fallback: number): number;
  /** A finite number ≥ 0 (drain timeouts, where 0 means "do not wait"). */
  nonNegativeNumber(name: string, value: number | undefined, fallback: number): number;
  /** One of `allowed`. */
  oneOf<T extends string>(name: string, value: T | undefined, allowed: readonly T[], fallback: T): T;
  /** The error for an option that breaks a rule of the transport's own (`must be …` is the rule). */
  invalid(name: string, rule: string): ConfigurationError;
}

export function optionChecks(transport: string): OptionChecks {
  const invalid = (name: string, rule: string) =>
    new ConfigurationError('invalid_option', `[thrun:${transport}] ${name} must be ${rule}`);
  const numeric =
    (rule: string, holds: (value: number) => boolean) =>
    (name: string, value: number | undefined, fallback: number): number => {
      if (value === undefined) return fallback;
      if (typeof value !== 'number' || !holds(value)) throw invalid(name, `${rule}, got ${String(value)}`);
      return value;
    };
  return {
    positiveInteger: numeric('a positive integer', (n) => Number.isSafeInteger(n) && n >= 1),
    positiveNumber: numeric('a number > 0', (n) => Number.isFinite(n) && n > 0),
    nonNegativeNumber: numeric('a number ≥ 0', (n) => Number.isFinite(n) && n >= 0),
    oneOf(name, value, allowed, fallback) {
      if (value === undefined) return fallback;
      if (!allowed.includes(value)) {
        const choices = allowed.map((choice) => `'${choice}'`).join(' or ');
        throw invalid(name, `${choices}, got ${JSON.stringify(value)}`);
      }
      return value;
    },
    invalid,
  };
}
