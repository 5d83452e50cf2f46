<?php

declare(strict_types=1);

namespace Thrun\Transport;

/**
 * Renews leases while a handler runs. A PHP worker has one thread: while a handler runs, nothing else
 * in the process does, so the lease renewal the TypeScript and Go consumers run on a timer runs in a
 * small process beside the worker (`bin/lease-keeper`), on a Redis connection of its own, every
 * interval. It lives as long as the worker: it ends when the worker closes it, exits or is killed, so
 * a dead worker's leases expire and its messages come back (at least once), as in every runtime.
 *
 * A process may run several (the transport's for its deliveries, the batch store's for its steps,
 * each with a connection of its own): every one obeys the worker's handler watch (`watchHandlers`),
 * so no lease of a stopped worker is renewed past its `--timeout`.
 */
final class LeaseKeeper
{
    /** @var \WeakMap<self, true>|null the keepers still running (a forked child inherits its parent's) */
    private static ?\WeakMap $running = null;
    private static ?HandlerWatch $watch = null;

    /** The process that started it: the one it renews leases for, and kills past the timeout. */
    private readonly int $owner;
    /** @var resource */
    private $process;
    /** @var resource */
    private $in;
    /** @var resource */
    private $out;

    private function __construct(\Redis $redis, int $intervalMs)
    {
        $auth = $redis->getAuth();
        $config = [
            'host' => $redis->getHost(),
            'port' => $redis->getPort(),
            'auth' => $auth === false || $auth === null || $auth === '' ? null : $auth,
            'db' => (int) $redis->getDBNum(),
            'intervalMs' => $intervalMs,
        ];
        $process = proc_open([PHP_BINARY, dirname(__DIR__, 2) . '/bin/lease-keeper'], [0 => ['pipe', 'r'], 1 => ['pipe', 'w'], 2 => STDERR], $pipes);
        if (!is_resource($process)) {
            throw new \RuntimeException('[thrun:redis] could not start bin/lease-keeper');
        }
        [$this->process, $this->in, $this->out, $this->owner] = [$process, $pipes[0], $pipes[1], getmypid()];
        $this->send($config);
        self::$running ??= new \WeakMap();
        self::$running[$this] = true;
        if (self::$watch !== null) {
            $this->follow(self::$watch);
        }
    }

    /** Starts a keeper that runs its scripts every `intervalMs` on a connection like `redis`'s. */
    public static function start(\Redis $redis, int $intervalMs): self
    {
        return new self($redis, $intervalMs);
    }

    /**
     * Runs a script of `scripts` every interval from now on, under `name` (replacing what ran under it).
     *
     * @param list<string> $keys
     * @param list<string|int> $args
     */
    public function keep(string $name, LuaScripts $scripts, string $script, array $keys, array $args): void
    {
        $this->send(['op' => 'keep', 'name' => $name, 'sha' => $scripts->sha($script), 'source' => $scripts->source($script),
            'keys' => $keys, 'args' => array_map('strval', $args)]);
    }

    /**
     * From now on every keeper of this process, running or started later, watches `watch`: once one
     * handler has run its `timeoutMs` (and a second of grace, for the worker's own SIGALRM to act
     * first), the keeper kills the worker and stops renewing. `null` ends the watch (the worker
     * stopped): its keepers see no handler run any more.
     */
    public static function watchHandlers(?HandlerWatch $watch): void
    {
        self::$watch?->idle();
        self::$watch = $watch;
        if ($watch !== null) {
            foreach (self::$running ?? [] as $keeper => $_) {
                if ($keeper->owner === getmypid()) {
                    $keeper->follow($watch);
                }
            }
        }
    }

    private function follow(HandlerWatch $watch): void
    {
        $watch->share(fn (int $key) => $this->send(['op' => 'watch', 'key' => $key, 'timeoutMs' => $watch->timeoutMs]));
    }

    /** Stops running what runs under `name`; once it returns, the keeper will not run it again. */
    public function drop(string $name): void
    {
        $this->send(['op' => 'drop', 'name' => $name]);
    }

    /** Ends the keeper and waits for it. */
    public function stop(): void
    {
        if (!is_resource($this->process)) {
            return;
        }
        unset(self::$running[$this]);
        fclose($this->in);
        fclose($this->out);
        proc_close($this->process);
    }

    public function __destruct()
    {
        $this->stop();
    }

    /** Sends one line and waits for its `ok`, so that what it asked is in effect when this returns. */
    private function send(array $message): void
    {
        $line = json_encode($message, JSON_UNESCAPED_SLASHES | JSON_THROW_ON_ERROR) . "\n";
        if (@fwrite($this->in, $line) !== strlen($line) || @fflush($this->in) === false || fgets($this->out) !== "ok\n") {
            throw new \RuntimeException('[thrun:redis] bin/lease-keeper stopped answering');
        }
    }
}
