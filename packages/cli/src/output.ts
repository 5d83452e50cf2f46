import { createInterface } from 'node:readline/promises';

/**
 * Message content is data from anyone who could publish: printed as is, an escape sequence in it
 * could rewrite the operator's terminal. Control characters (C0, DEL, C1) and the bidirectional
 * overrides are shown as `\uXXXX` instead.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

export function safeText(text: string): string {
  return text.replace(UNSAFE, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** JSON for a terminal or a pipe: valid JSON (the escapes are JSON escapes), one value per line. */
export function jsonLine(value: unknown): string {
  return safeText(JSON.stringify(value));
}

export function prettyJson(value: unknown): string {
  // Newlines of the indentation are kept; those inside strings are already escaped by JSON.
  return JSON.stringify(value, null, 2)
    .split('\n')
    .map((line) => safeText(line))
    .join('\n');
}

/** A plain-text table: a header row, columns padded to their widest cell, numbers right-aligned. */
export function table(headers: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const cells = rows.map((row) => row.map((cell) => safeText(String(cell))));
  const widths = headers.map((header, i) => Math.max(header.length, ...cells.map((row) => row[i]!.length)));
  const numeric = headers.map(
    (_, i) =>
      rows.some((row) => typeof row[i] === 'number') && rows.every((row) => /^(\d+|-)$/.test(String(row[i]))),
  );
  const line = (row: readonly string[]) =>
    row
      .map((cell, i) => (numeric[i] ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...cells.map(line)].join('\n');
}

/** A progress bar on stderr, redrawn in place; when it is not a terminal, one line at the end only. */
export class ProgressBar {
  private lastDrawn = 0;

  constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly enabled: boolean,
    private readonly label: string,
  ) {}

  update(done: number, total: number | undefined, detail: string): void {
    if (!this.enabled) return;
    const now = Date.now();
    // At most ten redraws a second: a fast replay must not spend its time drawing.
    if (done !== total && now - this.lastDrawn < 100) return;
    this.lastDrawn = now;
    const width = 30;
    const ratio = total ? Math.min(1, done / total) : 0;
    const filled = Math.round(ratio * width);
    const bar = total
      ? `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${Math.floor(ratio * 100)}%`
      : '';
    const text = `${this.label} ${bar} ${done}${total ? `/${total}` : ''} ${detail}`;
    this.stream.write(this.stream.isTTY ? `\r${text}\u001b[K` : `${text}\n`);
  }

  end(): void {
    if (this.enabled && this.stream.isTTY) this.stream.write('\n');
  }
}

/**
 * Asks before a destructive action. Without a terminal to ask on, it refuses: a script must say
 * `--yes`, so that a pipe never confirms by accident.
 */
export async function confirm(question: string): Promise<boolean> {
  if (!process.stdin.isTTY || !process.stderr.isTTY) return false;
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await prompt.question(`${question} [y/N] `);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    prompt.close();
  }
}
