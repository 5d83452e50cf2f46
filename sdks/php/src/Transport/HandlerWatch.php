<?php

declare(strict_types=1);

namespace Thrun\Transport;

/**
 * What the lease keeper sees of its worker's handlers, for `--timeout`: a worker that cannot run its
 * own SIGALRM handler (stopped by SIGSTOP, stuck inside one blocking call) cannot end itself, and its
 * lease keeper would renew its leases forever. The worker writes, into a small shared memory segment
 * (ext-shmop: a copy, no system call), how many handlers it started and whether one runs; the keeper
 * reads it every check and, once the same handler has run past the timeout, kills the worker and stops
 * renewing, so the message comes back after the lease.
 *
 * Layout: bytes 0–19 the number of handlers started (decimal, it only grows), byte 20 `r` while a
 * handler runs, `i` when none does.
 */
final class HandlerWatch
{
    public const SIZE = 21;
    public const STATE_AT = 20;

    private int $started = 0;
    private bool $running = false;

    private function __construct(private readonly \Shmop $memory, public readonly int $key)
    {
        shmop_write($this->memory, 'i', self::STATE_AT);
    }

    /** A new segment, or null without ext-shmop (then only the worker's own SIGALRM enforces the timeout). */
    public static function create(): ?self
    {
        if (!function_exists('shmop_open')) {
            return null;
        }
        for ($try = 0; $try < 5; $try++) {
            $key = random_int(1, 0x7fffffff);
            $memory = @shmop_open($key, 'n', 0600, self::SIZE);
            if ($memory !== false) {
                return new self($memory, $key);
            }
        }
        return null;
    }

    /** Once the keeper is attached: the segment goes away with the last of the two processes. */
    public function release(): void
    {
        shmop_delete($this->memory);
    }

    public function handlerStarted(): void
    {
        shmop_write($this->memory, (string) ++$this->started, 0);
        if (!$this->running) {
            $this->running = true;
            shmop_write($this->memory, 'r', self::STATE_AT);
        }
    }

    /** No handler runs (the worker fetches, waits, or retries a refused settlement). */
    public function idle(): void
    {
        if ($this->running) {
            $this->running = false;
            shmop_write($this->memory, 'i', self::STATE_AT);
        }
    }
}
