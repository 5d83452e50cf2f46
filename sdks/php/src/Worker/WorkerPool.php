<?php

declare(strict_types=1);

namespace Thrun\Worker;

/**
 * Several worker processes under one parent, for handlers that run at once: PHP runs one handler at a
 * time per process, so concurrency is processes (as Laravel Horizon's). Each child builds its own
 * worker, with connections of its own (a connection must never cross a fork). SIGTERM or SIGINT to the
 * parent is passed on to every child; each lets its running handler finish and exits; the parent exits
 * once all have. The children share the parent's process group, so a signal to the group (systemd's
 * default, a process manager's stop) reaches them all at once, SIGKILL included.
 *
 * A child killed by a signal while the pool runs (its own `--timeout`, its lease keeper, the OOM
 * killer) is replaced, as Horizon's supervisor replaces its processes, so the pool keeps its size; a
 * child that exits by itself (`--max-jobs`, `--max-time`, `--memory`) is not, and the pool ends when
 * the last one has, for the process manager to start afresh as it would a single worker.
 */
final class WorkerPool
{
    /**
     * @param \Closure(): Worker $makeWorker runs in each child
     * @param (\Closure(): void)|null $onReady called in the parent once every child is subscribed
     * @param (\Closure(string, string, array<string, mixed>): void)|null $log hears a replaced child
     */
    public function __construct(
        private readonly int $processes,
        private readonly \Closure $makeWorker,
        private readonly ?\Closure $onReady = null,
        private readonly ?\Closure $log = null,
    ) {
        if ($processes < 1) {
            throw new \InvalidArgumentException('[thrun] a worker pool needs at least one process');
        }
        if (!function_exists('pcntl_fork')) {
            throw new \RuntimeException('[thrun] a worker pool needs the pcntl extension');
        }
    }

    /** @return int the exit status: 0 when every child exited cleanly (or was replaced) */
    public function run(): int
    {
        /** @var array<int, float> $children when each child was started, by pid */
        $children = [];
        $readiness = [];
        for ($i = 0; $i < $this->processes; $i++) {
            [$parentEnd, $childEnd] = stream_socket_pair(STREAM_PF_UNIX, STREAM_SOCK_STREAM, STREAM_IPPROTO_IP);
            $children[$this->fork($childEnd, $parentEnd)] = microtime(true);
            $readiness[] = $parentEnd;
        }

        // The parent waits for signals synchronously, so a stop is passed on at once, while the
        // children are still stopping (a late copy could reach a child after PHP reset its handlers
        // on the way out, and kill it).
        pcntl_sigprocmask(SIG_BLOCK, [SIGTERM, SIGINT, SIGCHLD]);
        foreach ($readiness as $stream) {
            fread($stream, 1); // one byte once the child subscribed; EOF if it died first
            fclose($stream);
        }
        if ($this->onReady !== null) {
            ($this->onReady)();
        }

        $status = 0;
        $stopping = false;
        while ($children !== []) {
            $signal = pcntl_sigwaitinfo([SIGTERM, SIGINT, SIGCHLD]);
            if ($signal === SIGTERM || $signal === SIGINT) {
                $stopping = true;
                foreach (array_keys($children) as $pid) {
                    posix_kill($pid, $signal);
                }
            }
            while (($pid = pcntl_waitpid(-1, $exit, WNOHANG)) > 0) {
                $startedAt = $children[$pid] ?? microtime(true);
                unset($children[$pid]);
                if (!$stopping && pcntl_wifsignaled($exit)) {
                    // A child that dies at once would otherwise be forked again in a tight loop.
                    if (microtime(true) - $startedAt < 1.0) {
                        sleep(1);
                    }
                    $replacement = $this->fork(null, null);
                    $children[$replacement] = microtime(true);
                    if ($this->log !== null) {
                        ($this->log)('warning', 'worker process replaced', [
                            'pid' => $pid, 'signal' => pcntl_wtermsig($exit), 'replacement' => $replacement,
                        ]);
                    }
                    continue;
                }
                $status = max($status, pcntl_wifexited($exit) ? pcntl_wexitstatus($exit) : 1);
            }
        }
        return $status;
    }

    /**
     * Forks a child that runs a worker and returns its pid (in the parent).
     *
     * @param resource|null $childEnd where the child says it subscribed (null: nobody waits for it)
     * @param resource|null $parentEnd the other end, closed in the child
     */
    private function fork($childEnd, $parentEnd): int
    {
        $pid = pcntl_fork();
        if ($pid === -1) {
            throw new \RuntimeException('[thrun] fork failed');
        }
        if ($pid === 0) {
            if ($parentEnd !== null) {
                fclose($parentEnd);
            }
            // A replacement is forked while the parent blocks these signals: the child must hear them.
            pcntl_sigprocmask(SIG_UNBLOCK, [SIGTERM, SIGINT, SIGCHLD]);
            exit($this->child($childEnd));
        }
        if ($childEnd !== null) {
            fclose($childEnd);
        }
        return $pid;
    }

    /** @param resource|null $ready */
    private function child($ready): int
    {
        $worker = ($this->makeWorker)();
        // A stop signal can come twice (to the process group, and passed on by the parent), the second
        // after the worker's own handlers are gone: it must not end the child before it settled.
        foreach ([SIGTERM, SIGINT] as $signal) {
            pcntl_signal($signal, static function () use ($worker): void {
                $worker->stop();
            });
        }
        if ($ready !== null) {
            $worker->onReady(static function () use ($ready): void {
                fwrite($ready, '1');
                fclose($ready);
            });
        }
        $worker->run();
        return 0;
    }
}
