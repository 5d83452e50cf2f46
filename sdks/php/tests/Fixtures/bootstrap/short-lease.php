<?php

declare(strict_types=1);

// For the worker CLI tests: the listeners of slow-handler.php on a Redis Lists bus with a 300 ms lease.
use Thrun\EventBus;
use Thrun\Transport\RedisConnection;
use Thrun\Transport\RedisListsTransport;

$bus = new EventBus(new RedisListsTransport(RedisConnection::open(getenv('THRUN_REDIS_URL')), leaseMs: 300));
(require __DIR__ . '/slow-handler.php')($bus);
return $bus;
