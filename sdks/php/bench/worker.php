<?php

declare(strict_types=1);

// The worker's consume loop alone on Redis Lists, for a profiler (`scripts/php.sh profile`): the queue
// is filled with raw LPUSHes of bytes the codec produced once (each with its own event id), so the
// profile holds the worker and next to nothing else. Prints the CPU of the loop per message.
//
//   php bench/worker.php [messages]      (THRUN_REDIS_URL, default redis://127.0.0.1:6379)

require __DIR__ . '/../vendor/autoload.php';

use Thrun\EventBus;
use Thrun\Transport\RedisConnection;
use Thrun\Transport\RedisListsTransport;
use Thrun\Worker\Worker;

$count = (int) ($argv[1] ?? 20_000);
$redis = RedisConnection::open(getenv('THRUN_REDIS_URL') ?: 'redis://127.0.0.1:6379');
$bus = new EventBus(new RedisListsTransport($redis));
$handled = 0;
$bus->subscribe('bench.job', static function (array $payload) use (&$handled): void {
    $handled++;
});
$queue = 'bench-' . bin2hex(random_bytes(4));

$template = $bus->codec->encode($bus->prepare('bench.job', ['order_id' => 123, 'text' => 'hello'], ['eventId' => '00000000-0000-4000-8000-000000000000'])[1]);
for ($sent = 0; $sent < $count; $sent += 1000) {
    $batch = [];
    for ($i = $sent; $i < min($count, $sent + 1000); $i++) {
        $batch[] = str_replace('000000000000"', sprintf('%012d"', $i), $template);
    }
    $redis->lPush($queue, ...$batch);
}

$usage = getrusage();
$worker = new Worker($bus, [$queue], maxJobs: $count, prefetch: 100);
$worker->run();
$after = getrusage();
$cpu = static fn (array $u): int => $u['ru_utime.tv_sec'] * 1_000_000 + $u['ru_utime.tv_usec'] + $u['ru_stime.tv_sec'] * 1_000_000 + $u['ru_stime.tv_usec'];
$redis->del($queue);
printf("worker: %d messages handled, %.1f µs CPU/msg\n", $handled, ($cpu($after) - $cpu($usage)) / $count);
