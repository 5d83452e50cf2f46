/** The demo's trace: one line per step, with the time since the demo started. */
const started = performance.now();

export function trace(symbol: string, message: string): void {
  const ms = Math.round(performance.now() - started);
  console.log(`  ${String(ms).padStart(5)} ms  ${symbol} ${message}`);
}

export function heading(message: string): void {
  console.log(`\n${message}`);
}

export function short(id: string | undefined): string {
  return id ? `${id.slice(0, 8)}…` : '(none)';
}
