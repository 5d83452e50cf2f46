<?php

declare(strict_types=1);

// For the worker CLI tests: the listeners of slow-handler.php on RabbitMQ, with a Redis batch store
// whose step lease lasts 300 ms. Nothing here renews a delivery lease: only the step lease is kept.
use Thrun\Batch\RedisBatchStore;
use Thrun\EventBus;
use Thrun\Transport\RabbitMqTransport;
use Thrun\Transport\RedisConnection;

$bus = new EventBus(
    RabbitMqTransport::fromUrl(getenv('THRUN_AMQP_URL')),
    batchStore: new RedisBatchStore(RedisConnection::open(getenv('THRUN_REDIS_URL')), stepLeaseMs: 300),
);
(require __DIR__ . '/slow-handler.php')($bus);
return $bus;
