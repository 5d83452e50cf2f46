<?php

declare(strict_types=1);

// For the worker CLI tests: a listener that marks in Redis when it starts and when it ends.
use Thrun\EventBus;
use Thrun\Transport\RedisConnection;

return static function (EventBus $bus): void {
    $redis = RedisConnection::open(getenv('THRUN_REDIS_URL'));
    $bus->subscribe('slow.job', static function (array $payload) use ($redis): void {
        $redis->rPush($payload['marks'], 'started');
        usleep(700_000);
        $redis->rPush($payload['marks'], 'finished');
    });
};
