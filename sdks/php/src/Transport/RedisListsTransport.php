<?php

declare(strict_types=1);

namespace Thrun\Transport;

/**
 * Redis Lists mode, as `protocol/redis.md` lays it out: a queue `q` is the list `pq`, LPUSHed by any
 * producer; a consumer takes messages through `list-fetch` into its own processing list under a
 * lease, settles each with `list-ack`/`list-retry`/`list-dead-letter`, reaps dead consumers with
 * `list-reap` and hands back what it holds with `list-release`. Attempts live in `{pq}:attempts`.
 *
 * The lease is renewed every third of `leaseMs`, as the TypeScript and Go consumers do, by a
 * `LeaseKeeper` process beside this one, so a message whose handler runs longer than the lease is
 * not given to another consumer meanwhile. With `renewWhileHandling: false` it is renewed only
 * between messages, by `heartbeat()`.
 */
final class RedisListsTransport implements Transport
{
    /** @var array<string, array{id: string, keys: array<string, string>, reapedAt: float}> */
    private array $consumers = [];
    /** What the last list-fetch said: ms until the next delayed message is due, -1 for none. */
    private int $lastNextDueMs = -1;
    private readonly LuaScripts $scripts;
    private ?LeaseKeeper $keeper = null;

    public function __construct(
        private readonly \Redis $redis,
        private readonly string $prefix = '',
        private readonly int $leaseMs = 30_000,
        private readonly string $group = 'default',
        private readonly bool $renewWhileHandling = true,
    ) {
        $this->scripts = LuaScripts::shared();
    }

    public static function fromUrl(string $url, string $prefix = '', int $leaseMs = 30_000): self
    {
        return new self(RedisConnection::open($url), $prefix, $leaseMs);
    }


    public function publish(string $queue, array $messages, int $delayMs = 0): void
    {
        if ($messages === []) {
            return;
        }
        $key = $this->prefix . $queue;
        if ($delayMs > 0) {
            $this->scripts->schedule($this->redis, $key, $delayMs, $messages);
            return;
        }
        // One LPUSH keeps their order: the first value is the next out.
        if ($this->redis->lPush($key, ...$messages) === false) {
            throw new \RuntimeException("[thrun:redis] LPUSH {$key} failed: " . $this->redis->getLastError());
        }
    }

    public function subscribe(string $queue): void
    {
        $this->consumer($queue);
    }

    public function fetch(string $queue, int $max, float $timeoutSeconds): array
    {
        $keys = $this->consumer($queue)['keys'];
        $this->heartbeat();
        $deliveries = $this->take($queue, $max);
        if ($deliveries !== [] || $timeoutSeconds <= 0) {
            return $deliveries;
        }
        // Wait less when a delayed message is due sooner.
        $nextDueMs = $this->lastNextDueMs;
        $wait = $nextDueMs >= 0 ? min($timeoutSeconds, max(0.01, $nextDueMs / 1000)) : $timeoutSeconds;
        // The message that ends the wait lands in this consumer's landing list; list-fetch takes it.
        $this->redis->rawCommand('BLMOVE', $keys['queue'], $keys['landing'], 'RIGHT', 'LEFT', (string) round($wait, 3));
        return $this->take($queue, $max);
    }

    /** @return list<Delivery> */
    private function take(string $queue, int $max): array
    {
        $consumer = $this->consumers[$queue];
        $keys = $consumer['keys'];
        $reply = $this->scripts->run($this->redis, 'list-fetch', [
            $keys['queue'], $keys['processing'], $keys['attempts'], $keys['delayed'], $keys['consumers'], $keys['landing'],
        ], [$max, $consumer['id'], $this->leaseMs]);
        [$flat, $this->lastNextDueMs] = [$reply[0] ?: [], (int) $reply[1]];
        $deliveries = [];
        for ($i = 0, $n = count($flat); $i < $n; $i += 2) {
            $deliveries[] = new RedisListsDelivery($this, $queue, (string) $flat[$i], (int) $flat[$i + 1]);
        }
        return $deliveries;
    }

    public function heartbeat(): void
    {
        if ($this->keeper !== null) {
            return; // it renews the leases (and reaps) every third of the lease already
        }
        $now = microtime(true);
        foreach ($this->consumers as $queue => $consumer) {
            if (($now - $consumer['reapedAt']) * 1000 >= max(100, $this->leaseMs / 3)) {
                $this->reap($queue);
            }
        }
    }

    public function close(array $started = []): void
    {
        // No renewal may follow the release: it would register the released consumer again.
        $this->keeper?->stop();
        $this->keeper = null;
        foreach ($this->consumers as $queue => $consumer) {
            $keys = $consumer['keys'];
            $bodies = array_map(static fn (Delivery $d) => $d->body, array_filter($started, static fn (Delivery $d) => $d->queue === $queue));
            $this->scripts->run($this->redis, 'list-release', [
                $keys['processing'], $keys['queue'], $keys['attempts'], $keys['consumers'], $keys['landing'],
            ], [$consumer['id'], ...array_values($bodies)]);
        }
        $this->consumers = [];
    }

    /** Empties a queue of its waiting and delayed messages; returns how many were removed. */
    public function purge(string $queue): int
    {
        $key = $this->prefix . $queue;
        return (int) $this->scripts->run($this->redis, 'list-purge', [$key, "{{$key}}:delayed"], []);
    }

    /**
     * @internal
     * A first delivery is acknowledged with list-ack's `LREM` alone, one command instead of a script
     * (protocol/redis.md, Settle): an attempts field is written only when a message leaves the
     * processing list, so a first delivery still in it has none of its own to delete.
     */
    public function ack(RedisListsDelivery $delivery): bool
    {
        if ($delivery->attempt !== 1) {
            return $this->settle($delivery, 'ack', []);
        }
        $keys = $this->consumers[$delivery->queue]['keys'] ?? throw new \LogicException('[thrun:redis] settling after close');
        $removed = $this->redis->lRem($keys['processing'], $delivery->body, -1);
        if ($removed === false) {
            $error = $this->redis->getLastError();
            $this->redis->clearLastError();
            throw new RedisScriptError("[thrun:redis] LREM {$keys['processing']}: {$error}");
        }
        return $removed === 1;
    }

    /** @internal */
    public function settle(RedisListsDelivery $delivery, string $how, array $args): bool
    {
        $keys = $this->consumers[$delivery->queue]['keys'] ?? throw new \LogicException('[thrun:redis] settling after close');
        [$script, $scriptKeys] = match ($how) {
            'ack' => ['list-ack', [$keys['processing'], $keys['attempts']]],
            'retry' => ['list-retry', [$keys['processing'], $keys['attempts'], $keys['queue'], $keys['delayed']]],
            'dead-letter' => ['list-dead-letter', [$keys['processing'], $keys['attempts'], $keys['dead']]],
        };
        return (int) $this->scripts->run($this->redis, $script, $scriptKeys, [$delivery->body, ...$args]) === 1;
    }

    /** @return array{id: string, keys: array<string, string>, reapedAt: float} */
    private function consumer(string $queue): array
    {
        if (!isset($this->consumers[$queue])) {
            $key = $this->prefix . $queue;
            $id = $this->group . ':' . \Thrun\Envelope::uuid();
            $this->consumers[$queue] = ['id' => $id, 'reapedAt' => 0.0, 'keys' => [
                'queue' => $key,
                'processing' => "{{$key}}:processing:{$id}",
                'landing' => "{{$key}}:landing:{$id}",
                'consumers' => "{{$key}}:consumers",
                'attempts' => "{{$key}}:attempts",
                'delayed' => "{{$key}}:delayed",
                'dead' => "{$key}.dead",
            ]];
            $this->reap($queue);
            if ($this->renewWhileHandling && function_exists('proc_open')) {
                $this->keeper ??= LeaseKeeper::start($this->redis, max(100, intdiv($this->leaseMs, 3)));
                $this->keeper->keep("list-reap {$queue}", $this->scripts, 'list-reap', ...$this->reapCall($queue));
            }
        }
        return $this->consumers[$queue];
    }

    /** @return array{list<string>, list<string|int>} list-reap's keys and arguments for this consumer */
    private function reapCall(string $queue): array
    {
        $consumer = $this->consumers[$queue];
        $keys = $consumer['keys'];
        return [[$keys['queue'], $keys['consumers'], $keys['attempts']], [
            "{{$keys['queue']}}:processing:", $consumer['id'], $this->leaseMs, "{{$keys['queue']}}:landing:",
        ]];
    }

    /** Takes or renews this consumer's lease and returns the messages of consumers whose lease expired. */
    private function reap(string $queue): void
    {
        $this->scripts->run($this->redis, 'list-reap', ...$this->reapCall($queue));
        $this->consumers[$queue]['reapedAt'] = microtime(true);
    }
}
