<?php

declare(strict_types=1);

namespace Thrun\Transport;

/**
 * Redis Streams mode, as `protocol/redis.md` lays it out: a queue `q` is the stream `pq`, entries carry
 * the envelope bytes in field `b`, each consumer group gets every message and its consumers compete.
 * `stream-claim` takes due retries, due delayed publishes and the entries of dead consumers; new
 * entries come from XREADGROUP. The attempt is the entry's delivery count in the group.
 */
final class RedisStreamsTransport implements Transport
{
    /** @var array<string, array{id: string, upkeepAt: float, trimmedAt: float, held: array<string, true>}> */
    private array $consumers = [];
    private readonly LuaScripts $scripts;

    public function __construct(
        private readonly \Redis $redis,
        private readonly string $prefix = '',
        private readonly int $idleMs = 30_000,
        private readonly string $group = 'default',
        private readonly int $trimEveryMs = 5_000,
    ) {
        $this->scripts = LuaScripts::shared();
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
        $pipeline = $this->redis->multi(\Redis::PIPELINE);
        foreach ($messages as $body) {
            $pipeline->rawCommand('XADD', $key, '*', 'b', $body);
        }
        foreach ($pipeline->exec() as $reply) {
            if (!is_string($reply)) {
                throw new \RuntimeException("[thrun:redis] XADD {$key} failed: " . $this->redis->getLastError());
            }
        }
    }

    public function subscribe(string $queue): void
    {
        $this->consumer($queue);
    }

    public function fetch(string $queue, int $max, float $timeoutSeconds): array
    {
        $key = $this->prefix . $queue;
        $consumer = $this->consumer($queue);
        $this->heartbeat();
        $reply = $this->scripts->run($this->redis, 'stream-claim', [$key, "{{$key}}:retry:{$this->group}", "{{$key}}:delayed"], [
            $this->group, $consumer['id'], $max, $this->idleMs,
        ]);
        $deliveries = [];
        $claimed = $reply[0] ?: [];
        for ($i = 0, $n = count($claimed); $i < $n; $i += 3) {
            $deliveries[] = $this->delivery($queue, (string) $claimed[$i], $claimed[$i + 1], (int) $claimed[$i + 2]);
        }
        $rest = $max - count($deliveries);
        if ($rest > 0) {
            $nextDueMs = (int) $reply[1];
            $block = [];
            if ($deliveries === [] && $timeoutSeconds > 0) {
                $waitMs = (int) round($timeoutSeconds * 1000);
                $block = ['BLOCK', (string) max(1, $nextDueMs >= 0 ? min($waitMs, $nextDueMs) : $waitMs)];
            }
            $read = $this->redis->rawCommand('XREADGROUP', 'GROUP', $this->group, $consumer['id'], 'COUNT', (string) $rest, ...$block, ...['STREAMS', $key, '>']);
            foreach (is_array($read) && isset($read[0][1]) ? $read[0][1] : [] as [$id, $fields]) {
                $deliveries[] = $this->delivery($queue, (string) $id, $fields, 1);
            }
        }
        return $deliveries;
    }

    /** @param list<string> $fields */
    private function delivery(string $queue, string $id, array $fields, int $attempt): RedisStreamsDelivery
    {
        $body = null;
        for ($i = 0, $n = count($fields); $i < $n; $i += 2) {
            if ($fields[$i] === 'b') {
                $body = $fields[$i + 1];
                break;
            }
        }
        // An entry without `b` (a foreign producer's) is delivered with its first field's value.
        $body ??= (string) ($fields[1] ?? '');
        $this->consumers[$queue]['held'][$id] = true;
        return new RedisStreamsDelivery($this, $queue, $id, $body, $attempt);
    }

    public function heartbeat(): void
    {
        $now = microtime(true);
        foreach ($this->consumers as $queue => $consumer) {
            $key = $this->prefix . $queue;
            if (($now - $consumer['upkeepAt']) * 1000 >= max(100, $this->idleMs / 3)) {
                if ($consumer['held'] !== []) {
                    // Resets their idle time, so no one else claims them (JUSTID: the count stays).
                    $this->redis->rawCommand('XCLAIM', $key, $this->group, $consumer['id'], '0', ...array_keys($consumer['held']), ...['JUSTID']);
                }
                $this->consumers[$queue]['upkeepAt'] = $now;
            }
            if (($now - $consumer['trimmedAt']) * 1000 >= $this->trimEveryMs) {
                $this->scripts->run($this->redis, 'stream-trim', [$key], []);
                $this->consumers[$queue]['trimmedAt'] = $now;
            }
        }
    }

    /** Everything still held, started or not, is made claimable at once by any consumer. */
    public function close(array $started = []): void
    {
        foreach ($this->consumers as $queue => $consumer) {
            if ($consumer['held'] !== []) {
                $this->redis->rawCommand('XCLAIM', $this->prefix . $queue, $this->group, $consumer['id'], '0', ...array_keys($consumer['held']), ...['IDLE', (string) $this->idleMs, 'JUSTID']);
            }
        }
        $this->consumers = [];
    }

    /** @internal */
    public function settle(RedisStreamsDelivery $delivery, string $how, array $args): void
    {
        $key = $this->prefix . $delivery->queue;
        match ($how) {
            'ack' => $this->redis->rawCommand('XACK', $key, $this->group, $delivery->id),
            'retry' => $this->scripts->run($this->redis, 'stream-retry', ["{{$key}}:retry:{$this->group}"], [$delivery->id, ...$args]),
            'dead-letter' => $this->scripts->run($this->redis, 'stream-dead-letter', [$key, "{$key}.dead"], [$this->group, $delivery->id, ...$args]),
        };
        unset($this->consumers[$delivery->queue]['held'][$delivery->id]);
    }

    /** @return array{id: string, upkeepAt: float, trimmedAt: float, held: array<string, true>} */
    private function consumer(string $queue): array
    {
        if (!isset($this->consumers[$queue])) {
            $key = $this->prefix . $queue;
            try {
                $this->redis->rawCommand('XGROUP', 'CREATE', $key, $this->group, '0', 'MKSTREAM');
            } catch (\RedisException $error) {
                if (!str_contains($error->getMessage(), 'BUSYGROUP')) {
                    throw $error;
                }
            }
            $error = $this->redis->getLastError();
            if ($error !== null && !str_starts_with($error, 'BUSYGROUP')) {
                throw new \RuntimeException("[thrun:redis] XGROUP CREATE {$key}: {$error}");
            }
            $this->redis->clearLastError();
            $now = microtime(true);
            $this->consumers[$queue] = ['id' => $this->group . ':' . \Thrun\Envelope::uuid(), 'upkeepAt' => $now, 'trimmedAt' => $now, 'held' => []];
        }
        return $this->consumers[$queue];
    }
}
