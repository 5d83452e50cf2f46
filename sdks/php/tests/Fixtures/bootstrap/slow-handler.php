<?php

declare(strict_types=1);

// For the worker CLI tests: listeners that mark in Redis when they start and when they end.
use Thrun\EventBus;
use Thrun\Transport\RedisConnection;

return static function (EventBus $bus): void {
    $redis = RedisConnection::open(getenv('THRUN_REDIS_URL'));
    $bus->subscribe('slow.job', static function (array $payload) use ($redis): void {
        $redis->rPush($payload['marks'], 'started');
        usleep(700_000);
        $redis->rPush($payload['marks'], 'finished');
    });
    $bus->subscribe('long.job', static function (array $payload) use ($redis): void {
        $redis->rPush($payload['marks'], 'started');
        // A signal interrupts usleep: sleep on until the end, so only the worker can cut this short.
        $end = microtime(true) + $payload['ms'] / 1000;
        while (($left = $end - microtime(true)) > 0) {
            usleep((int) ceil($left * 1_000_000));
        }
        $redis->rPush($payload['marks'], 'finished');
    });
    $bus->subscribe('endless.job', static function (array $payload) use ($redis): void {
        $redis->rPush($payload['marks'], 'started');
        for ($spins = 0; ; $spins++) {
            // a handler that never returns
        }
    });
};
