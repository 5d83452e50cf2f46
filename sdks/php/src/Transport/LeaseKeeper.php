<?php

declare(strict_types=1);

namespace Thrun\Transport;

/**
 * Renews leases while a handler runs. A PHP worker has one thread: while a handler runs, nothing else
 * in the process does, so the lease renewal the TypeScript and Go consumers run on a timer runs in a
 * small process beside the worker (`bin/lease-keeper`), on a Redis connection of its own, every
 * interval. It lives as long as the worker: it ends when the worker closes it, exits or is killed, so
 * a dead worker's leases expire and its messages come back (at least once), as in every runtime.
 */
final class LeaseKeeper
{
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
        [$this->process, $this->in, $this->out] = [$process, $pipes[0], $pipes[1]];
        $this->send($config);
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
     * From now on the keeper watches `watch`: once one handler has run `timeoutMs` (and a second of
     * grace, for the worker's own SIGALRM to act first), it kills the worker and stops renewing.
     */
    public function watch(HandlerWatch $watch, int $timeoutMs): void
    {
        $this->send(['op' => 'watch', 'key' => $watch->key, 'timeoutMs' => $timeoutMs]);
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
