/**
 * A FIFO counting semaphore: waiters get permits in the order they asked, so earlier offsets go first.
 * Waiters are callbacks, called synchronously by the `release` that frees their permit: at
 * concurrency 1 every message waits for the one before it, and a promise per wait would show.
 */
export class Semaphore {
  private available: number;
  private readonly waiters: Array<() => void> = [];

  constructor(permits: number) {
    this.available = permits;
  }

  /** Takes a permit when one is free, without waiting. */
  tryAcquire(): boolean {
    if (this.available === 0) return false;
    this.available -= 1;
    return true;
  }

  /** Calls `onPermit` once it holds a permit: at once when one is free, else from a later `release`. */
  acquire(onPermit: () => void): void {
    if (this.tryAcquire()) onPermit();
    else this.waiters.push(onPermit);
  }

  /** Hands the permit to the oldest waiter (calling it before returning), or frees it. */
  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.available += 1;
  }
}
