<?php

declare(strict_types=1);

namespace Thrun\Tests\CrossRuntime;

use Thrun\EventBus;
use Thrun\HandlerContext;
use Thrun\Tests\Brokers\BrokerTestCase;
use Thrun\Transport\RedisListsTransport;

/** PHP and the Go service of apps/go-consumer on one Redis list, in both directions. */
final class GoTest extends BrokerTestCase
{
    private static string $binary;

    public static function setUpBeforeClass(): void
    {
        self::$binary = sys_get_temp_dir() . '/thrun-go-consumer-' . bin2hex(random_bytes(4));
        $module = dirname(__DIR__, 4) . '/apps/go-consumer';
        exec('cd ' . escapeshellarg($module) . ' && go build -o ' . escapeshellarg(self::$binary) . ' . 2>&1', $output, $code);
        self::assertSame(0, $code, 'go build: ' . implode("\n", $output));
    }

    public static function tearDownAfterClass(): void
    {
        @unlink(self::$binary);
    }

    private static function go(string ...$arguments): array
    {
        exec(implode(' ', array_map('escapeshellarg', [self::$binary, ...$arguments])) . ' 2>&1', $output, $code);
        self::assertSame(0, $code, implode("\n", $output));
        return $output;
    }

    public function testGoProducesAndPhpHandles(): void
    {
        $queue = self::uniqueQueue('xr-go-php');
        self::go('produce', '--redis', self::redisUrl(), '--queue', $queue, '--event', 'go_message', '--payload', '{"text":"hello"}');
        $bus = new EventBus(new RedisListsTransport(self::redis()));
        $handled = [];
        $bus->subscribe('go_message', function (array $payload, HandlerContext $context) use (&$handled): void {
            $handled[] = [$payload, $context->envelope->meta['source'] ?? null];
        });
        self::work($bus, $queue, maxJobs: 1);
        self::assertSame([[['text' => 'hello'], 'go']], $handled);
    }

    public function testPhpDispatchesAndGoValidatesAndConsumes(): void
    {
        $queue = self::uniqueQueue('xr-php-go');
        $bus = new EventBus(new RedisListsTransport(self::redis()), defaultQueue: $queue);
        $id = $bus->event('order_created', ['order_id' => 123, 'note' => 'é/€']);
        [$line] = self::go('consume', '--redis', self::redisUrl(), '--queue', $queue, '--count', '1', '--timeout', '5s');
        $envelope = json_decode($line, true);
        self::assertSame('order_created', $envelope['event']);
        self::assertSame(['order_id' => 123, 'note' => 'é/€'], $envelope['payload']);
        self::assertSame(['php', $id], [$envelope['meta']['source'], $envelope['meta']['event_id']]);
    }
}
