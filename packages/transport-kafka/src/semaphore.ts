/** A FIFO counting semaphore: waiters get permits in the order they asked, so earlier offsets go first. */
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

  acquire(): Promise<void> {
    if (this.available > 0) {
      this.available -= 1;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.available += 1;
  }
}
