<?php

declare(strict_types=1);

namespace Thrun\Transport;

/** Builds a transport by name, for the CLI and for configuration files. */
final class Transports
{
    public const NAMES = ['redis-lists', 'redis-streams', 'rabbitmq'];

    public static function create(string $name, ?string $url = null, string $prefix = '', string $group = 'default'): Transport
    {
        return match ($name) {
            'redis-lists' => new RedisListsTransport(RedisConnection::open($url ?? self::env('THRUN_REDIS_URL', 'redis://127.0.0.1:6379')), $prefix, group: $group),
            'redis-streams' => new RedisStreamsTransport(RedisConnection::open($url ?? self::env('THRUN_REDIS_URL', 'redis://127.0.0.1:6379')), $prefix, group: $group),
            'rabbitmq' => RabbitMqTransport::fromUrl($url ?? self::env('THRUN_AMQP_URL', 'amqp://guest:guest@127.0.0.1:5672'), $group),
            'kafka' => throw new \InvalidArgumentException('[thrun] Kafka is not available in PHP: Debian packages no PHP Kafka extension (php-rdkafka); use Redis or RabbitMQ, or a TypeScript or Go worker for Kafka queues'),
            default => throw new \InvalidArgumentException("[thrun] unknown transport '{$name}': use " . implode(', ', self::NAMES)),
        };
    }

    private static function env(string $name, string $default): string
    {
        $value = getenv($name);
        return is_string($value) && $value !== '' ? $value : $default;
    }
}
