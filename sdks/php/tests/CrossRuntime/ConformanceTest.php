<?php

declare(strict_types=1);

namespace Thrun\Tests\CrossRuntime;

use Thrun\Tests\Brokers\BrokerTestCase;

/**
 * The conformance harness (packages/conformance-harness, protocol/conformance.md) judging
 * bin/conformance-worker on every transport PHP has. Kafka is not among them: no PHP Kafka extension.
 */
final class ConformanceTest extends BrokerTestCase
{
    public static function transports(): array
    {
        return ['redis-lists' => ['redis'], 'redis-streams' => ['redis-streams'], 'rabbitmq' => ['rabbitmq']];
    }

    /** @dataProvider transports */
    public function testEveryScenarioPasses(string $transport): void
    {
        $cli = dirname(__DIR__, 4) . '/packages/conformance-harness/dist/cli.js';
        if (!is_file($cli)) {
            self::markTestSkipped('the conformance harness is not built here (packages/conformance-harness: bash scripts/pnpm.sh build)');
        }
        $worker = PHP_BINARY . ' ' . escapeshellarg(dirname(__DIR__, 2) . '/bin/conformance-worker');
        $url = $transport === 'rabbitmq' ? self::amqpUrl() : self::redisUrl();
        exec(implode(' ', array_map('escapeshellarg', ['node', $cli, '--transport', $transport, '--url', $url, '--worker', $worker])) . ' 2>&1', $output, $code);
        $report = implode("\n", $output);
        self::assertSame(0, $code, $report);
        self::assertMatchesRegularExpression('/^\d+ passed, 0 failed$/m', $report);
        self::assertStringNotContainsString('SKIP', $report, $report);
    }
}
