<?php

declare(strict_types=1);

namespace Thrun\Transport;

/**
 * What the lease keepers see of their worker's handlers, for `--timeout`: a worker that cannot run
 * its own SIGALRM handler (stopped by SIGSTOP, stuck inside one blocking call) cannot end itself, and
 * its lease keepers would renew its leases (a Redis Lists delivery's, a batch step's) forever. The
 * worker writes, into a small shared memory segment per keeper (ext-shmop: a copy, no system call),
 * how many handlers it started and whether one runs; each keeper reads its segment every check and,
 * once the same handler has run past `timeoutMs`, kills the worker and stops renewing, so the message
 * comes back after the lease and another worker takes the step over.
 *
 * `LeaseKeeper::watchHandlers` shares it with every lease keeper of the process, those running and
 * those started later (a batch store starts its keeper at its first step).
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
    /** @var list<\Shmop> one per keeper that watches */
    private array $segments = [];

    public function __construct(public readonly int $timeoutMs)
    {
    }

    /**
     * Shares the watch with one more keeper: a new segment, showing what the worker wrote so far, that
     * `attach` (given its key) makes the keeper open. It is deleted once attached, so it goes away
     * with the last of the two processes and a killed worker leaves none behind. Without ext-shmop
     * nothing is shared (then only the worker's own SIGALRM enforces the timeout).
     *
     * @param \Closure(int): void $attach
     */
    public function share(\Closure $attach): void
    {
        if (!function_exists('shmop_open')) {
            return;
        }
        for ($try = 0; $try < 5; $try++) {
            $key = random_int(1, 0x7fffffff);
            $memory = @shmop_open($key, 'n', 0600, self::SIZE);
            if ($memory !== false) {
                break;
            }
        }
        if ($memory === false) {
            return;
        }
        try {
            shmop_write($memory, str_pad((string) $this->started, self::STATE_AT, "\0") . ($this->running ? 'r' : 'i'), 0);
            $attach($key);
            $this->segments[] = $memory;
        } finally {
            shmop_delete($memory);
        }
    }

    public function handlerStarted(): void
    {
        $counter = (string) ++$this->started;
        foreach ($this->segments as $memory) {
            shmop_write($memory, $counter, 0);
            if (!$this->running) {
                shmop_write($memory, 'r', self::STATE_AT);
            }
        }
        $this->running = true;
    }

    /** No handler runs (the worker fetches, waits, or retries a refused settlement, or it ended). */
    public function idle(): void
    {
        if ($this->running) {
            $this->running = false;
            foreach ($this->segments as $memory) {
                shmop_write($memory, 'i', self::STATE_AT);
            }
        }
    }
}
