<?php

declare(strict_types=1);

namespace Thrun\Transport;

/**
 * A transport whose leases a process beside the worker renews (Redis Lists' lease keeper): that
 * process must also stop renewing them when the worker's handler runs past `--timeout`.
 */
interface WatchesHandlers
{
    /**
     * Starts watching this process's handlers (until `close`): null when nothing renews leases beside
     * this process, or the watch cannot be shared (no ext-shmop).
     */
    public function watchHandlers(int $timeoutSeconds): ?HandlerWatch;
}
