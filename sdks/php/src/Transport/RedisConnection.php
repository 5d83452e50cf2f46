<?php

declare(strict_types=1);

namespace Thrun\Transport;

/** Opens ext-redis connections from a `redis://[:password@]host:port[/db]` URL. */
final class RedisConnection
{
    public static function open(string $url): \Redis
    {
        $parts = parse_url($url);
        if ($parts === false || !in_array($parts['scheme'] ?? '', ['redis', 'rediss'], true)) {
            throw new \InvalidArgumentException('[thrun:redis] expected a redis:// URL');
        }
        $redis = new \Redis();
        $host = ($parts['scheme'] === 'rediss' ? 'tls://' : '') . ($parts['host'] ?? '127.0.0.1');
        $redis->connect($host, (int) ($parts['port'] ?? 6379), 5.0);
        // Blocking reads (BLMOVE, XREADGROUP BLOCK) wait longer than a default socket timeout.
        $redis->setOption(\Redis::OPT_READ_TIMEOUT, -1);
        if (isset($parts['pass'])) {
            isset($parts['user']) && $parts['user'] !== ''
                ? $redis->auth([rawurldecode($parts['user']), rawurldecode($parts['pass'])])
                : $redis->auth(rawurldecode($parts['pass']));
        }
        $database = (int) trim($parts['path'] ?? '', '/');
        if ($database !== 0) {
            $redis->select($database);
        }
        return $redis;
    }
}
