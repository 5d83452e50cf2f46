import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { READY_LINE, type WorkerSettings, workerEnvironment } from './worker-env.js';

/** How long a worker may take to write its ready line (a `go run` compiles first). */
export const READY_TIMEOUT_MS = 60_000;
/** The last lines of a worker's output kept to explain a failure. */
const KEPT_LINES = 40;

export interface WorkerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  at: number;
}

/** Workers still running, killed when the harness exits so that none outlives it. */
const live = new Set<WorkerProcess>();
process.on('exit', () => {
  for (const worker of live) worker.signal('SIGKILL');
});

/** A worker under test, started from its command line through `/bin/sh -c`. */
export class WorkerProcess {
  readonly ready: Promise<void>;
  readonly exited: Promise<WorkerExit>;
  private readonly child: ChildProcess;
  private readonly output: string[] = [];
  private exit: WorkerExit | undefined;

  constructor(
    command: string,
    readonly settings: WorkerSettings,
  ) {
    // Its own process group, so a signal reaches the worker and not only the shell that started it.
    this.child = spawn('/bin/sh', ['-c', `exec ${command}`], {
      env: { ...process.env, ...workerEnvironment(settings) },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        live.delete(this);
        this.exit = { code, signal, at: Date.now() };
        resolve(this.exit);
      });
    });
    live.add(this);
    const stdout = createInterface({ input: this.child.stdout! });
    createInterface({ input: this.child.stderr! }).on('line', (line) => this.keep(line));
    this.ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(`worker ${settings.workerId} wrote no "${READY_LINE}" within ${READY_TIMEOUT_MS} ms`),
          ),
        READY_TIMEOUT_MS,
      );
      stdout.on('line', (line) => {
        if (line.trim() !== READY_LINE) {
          this.keep(line);
          return;
        }
        clearTimeout(timer);
        resolve();
      });
      void this.exited.then((exit) => {
        clearTimeout(timer);
        reject(new Error(`worker ${settings.workerId} exited (${describeExit(exit)}) before it was ready`));
      });
    });
    this.ready.catch(() => {});
  }

  get running(): boolean {
    return this.exit === undefined;
  }

  /** Sends a signal to the worker's whole process group. */
  signal(signal: NodeJS.Signals): void {
    if (!this.running || this.child.pid === undefined) return;
    try {
      process.kill(-this.child.pid, signal);
    } catch {
      // Already gone.
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it exited. */
  async stop(graceMs = 15_000): Promise<WorkerExit> {
    this.signal('SIGTERM');
    const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
    const exit = await this.exited;
    clearTimeout(timer);
    return exit;
  }

  /** What the worker printed last, to show beside a failure. */
  recentOutput(): string {
    return this.output.join('\n');
  }

  private keep(line: string): void {
    this.output.push(`[${this.settings.workerId}] ${line}`);
    if (this.output.length > KEPT_LINES) this.output.shift();
  }
}

export function describeExit(exit: WorkerExit): string {
  return exit.signal === null ? `status ${exit.code}` : `signal ${exit.signal}`;
}
