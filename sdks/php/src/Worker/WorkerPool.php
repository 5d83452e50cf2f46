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
 */
final class WorkerPool
{
    /**
     * @param \Closure(): Worker $makeWorker runs in each child
     * @param (\Closure(): void)|null $onReady called in the parent once every child is subscribed
     */
    public function __construct(
        private readonly int $processes,
        private readonly \Closure $makeWorker,
        private readonly ?\Closure $onReady = null,
    ) {
        if ($processes < 1) {
            throw new \InvalidArgumentException('[thrun] a worker pool needs at least one process');
        }
        if (!function_exists('pcntl_fork')) {
            throw new \RuntimeException('[thrun] a worker pool needs the pcntl extension');
        }
    }

    /** @return int the exit status: 0 when every child exited cleanly */
    public function run(): int
    {
        $children = [];
        $readiness = [];
        for ($i = 0; $i < $this->processes; $i++) {
            [$parentEnd, $childEnd] = stream_socket_pair(STREAM_PF_UNIX, STREAM_SOCK_STREAM, STREAM_IPPROTO_IP);
            $pid = pcntl_fork();
            if ($pid === -1) {
                throw new \RuntimeException('[thrun] fork failed');
            }
            if ($pid === 0) {
                fclose($parentEnd);
                exit($this->child($childEnd));
            }
            fclose($childEnd);
            $children[$pid] = true;
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
        while ($children !== []) {
            $signal = pcntl_sigwaitinfo([SIGTERM, SIGINT, SIGCHLD]);
            if ($signal === SIGTERM || $signal === SIGINT) {
                foreach (array_keys($children) as $pid) {
                    posix_kill($pid, $signal);
                }
            }
            while (($pid = pcntl_waitpid(-1, $exit, WNOHANG)) > 0) {
                unset($children[$pid]);
                $status = max($status, pcntl_wifexited($exit) ? pcntl_wexitstatus($exit) : 1);
            }
        }
        return $status;
    }

    /** @param resource $ready */
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
        $worker->onReady(static function () use ($ready): void {
            fwrite($ready, '1');
            fclose($ready);
        });
        $worker->run();
        return 0;
    }
}
