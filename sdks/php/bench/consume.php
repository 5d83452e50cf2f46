<?php

declare(strict_types=1);

// Consume rate of the PHP worker on Redis Lists against a raw ext-redis loop (BLMOVE + LREM, the least
// a reliable consumer does), on the same messages in one run.
//
//   php bench/consume.php [messages]      (THRUN_REDIS_URL, default redis://127.0.0.1:6379)

require __DIR__ . '/../vendor/autoload.php';

use Thrun\EventBus;
use Thrun\Transport\RedisConnection;
use Thrun\Transport\RedisListsTransport;
use Thrun\Worker\Worker;

$count = (int) ($argv[1] ?? 20_000);
$url = getenv('THRUN_REDIS_URL') ?: 'redis://127.0.0.1:6379';
$redis = RedisConnection::open($url);

function fill(EventBus $bus, string $queue, int $count): void
{
    for ($sent = 0; $sent < $count; $sent += 500) {
        $bus->events(array_fill(0, min(500, $count - $sent), ['event' => 'bench.job', 'payload' => ['order_id' => 123, 'text' => 'hello'], 'options' => ['queue' => $queue]]));
    }
}

$bus = new EventBus(new RedisListsTransport($redis));
$handled = 0;
$bus->subscribe('bench.job', static function (array $payload) use (&$handled): void {
    $handled++;
});
$queue = 'bench-' . bin2hex(random_bytes(4));
$processing = "{{$queue}}:raw-processing";

// The machine is shared and noisy: rounds alternate between the two loops, and medians are compared.
$rounds = 5;
$perRound = intdiv($count, $rounds);
$rates = ['raw' => [], 'thrun' => []];
// CPU time of this process (user + system), the figure the machine's load does not change.
$cpu = ['raw' => 0, 'thrun' => 0];
$cpuNow = static function (): int {
    $usage = getrusage();
    return $usage['ru_utime.tv_sec'] * 1_000_000 + $usage['ru_utime.tv_usec'] + $usage['ru_stime.tv_sec'] * 1_000_000 + $usage['ru_stime.tv_usec'];
};
for ($round = 0; $round < $rounds; $round++) {
    fill($bus, $queue, $perRound);
    $started = hrtime(true);
    $cpuStarted = $cpuNow();
    for ($i = 0; $i < $perRound; $i++) {
        $body = $redis->rawCommand('BLMOVE', $queue, $processing, 'RIGHT', 'LEFT', '1');
        $redis->lRem($processing, $body, -1);
    }
    $rates['raw'][] = $perRound / ((hrtime(true) - $started) / 1e9);
    $cpu['raw'] += $cpuNow() - $cpuStarted;

    fill($bus, $queue, $perRound);
    $started = hrtime(true);
    $cpuStarted = $cpuNow();
    (new Worker($bus, [$queue], maxJobs: $perRound, prefetch: 100))->run();
    $rates['thrun'][] = $perRound / ((hrtime(true) - $started) / 1e9);
    $cpu['thrun'] += $cpuNow() - $cpuStarted;
}
$redis->del($queue, $processing);

$median = static function (array $values): float {
    sort($values);
    return $values[intdiv(count($values), 2)];
};
[$raw, $thrun] = [$median($rates['raw']), $median($rates['thrun'])];
$total = $perRound * $rounds;
printf("messages %d in %d alternating rounds (median msg/s; CPU of this process per message)\n", $total, $rounds);
printf("raw BLMOVE+LREM  %8.0f msg/s  %6.1f µs CPU/msg\n", $raw, $cpu['raw'] / $total);
printf("thrun worker     %8.0f msg/s  %6.1f µs CPU/msg  (%.2f× raw; handled %d)\n", $thrun, $cpu['thrun'] / $total, $thrun / $raw, $handled);
