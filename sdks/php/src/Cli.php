<?php

declare(strict_types=1);

namespace Thrun;

use Thrun\Transport\Transports;
use Thrun\Worker\Worker;
use Thrun\Worker\WorkerPool;

/** The `thrun` command. */
final class Cli
{
    private const USAGE = <<<'TEXT'
    usage:
      thrun work [options]             consume queues and run listeners
      thrun discover <dir> <cache>     write the listener map of <dir> to <cache> (a PHP file)

    work options:
      --queue <name>            queue to consume; repeat or separate with commas (default: events)
      --transport <name>        redis-lists (default), redis-streams or rabbitmq
      --url <url>               broker URL (default: $THRUN_REDIS_URL or $THRUN_AMQP_URL)
      --prefix <p>              Redis key prefix (default: none)
      --group <g>               consumer group (default: default)
      --bootstrap <file>        a PHP file returning a Thrun\EventBus, or a closure(EventBus): void
                                that subscribes listeners to the one built from these options
      --listeners <dir>         discover #[ThrunEventListener] classes under <dir>
      --cache <file>            the cached listener map (written on first run, then only read)
      --source <name>           meta.source of the events handlers dispatch (default: php)
      --max-jobs <n>            stop after n messages
      --max-time <seconds>      stop after this long
      --memory <mb>             stop once the process uses this much memory
      --drain-timeout <seconds> on SIGTERM/SIGINT, how long the running handler may still take before
                                its message is handed back for redelivery (default: 10)
      --timeout <seconds>       a handler running longer ends the worker process (SIGKILL), and its
                                message comes back after the lease (default: 60; 0: no limit)
      --max-attempts <n>        attempts before dead-lettering (default: 5)
      --backoff <ms>            first retry delay, doubled per attempt (default: 1000)
      --max-backoff <ms>        retry delay cap (default: 60000)
      --unknown-events <p>      dead-letter (default), drop or leave
      --prefetch <n>            messages fetched at once (default: 10)
      --processes <n>           worker processes, one handler each (default: 1); each builds its own bus
    TEXT;

    /** @param list<string> $arguments */
    public static function main(array $arguments): int
    {
        $command = array_shift($arguments) ?? 'help';
        try {
            return match ($command) {
                'work' => self::work(self::options($arguments)),
                'discover' => self::discover($arguments),
                'help', '--help', '-h' => self::usage(0),
                default => self::usage(2),
            };
        } catch (\InvalidArgumentException $error) {
            fwrite(STDERR, $error->getMessage() . "\n");
            return 2;
        }
    }

    private static function usage(int $code): int
    {
        fwrite($code === 0 ? STDOUT : STDERR, self::USAGE . "\n");
        return $code;
    }

    /** @param list<string> $arguments */
    private static function discover(array $arguments): int
    {
        if (count($arguments) !== 2) {
            return self::usage(2);
        }
        $map = Discovery::compile($arguments[0], $arguments[1]);
        fwrite(STDOUT, count($map) . " listeners written to {$arguments[1]}\n");
        return 0;
    }

    /** @param array<string, list<string>> $options */
    private static function work(array $options): int
    {
        $one = static fn (string $name, ?string $default = null): ?string => isset($options[$name]) ? end($options[$name]) : $default;
        $int = static fn (string $name, ?int $default = null): ?int => isset($options[$name]) ? (int) end($options[$name]) : $default;

        $queues = [];
        foreach ($options['queue'] ?? ['events'] as $value) {
            array_push($queues, ...array_filter(explode(',', $value)));
        }
        $log = static function (string $level, string $message, array $fields): void {
            fwrite(STDERR, json_encode(['level' => $level, 'msg' => $message] + $fields, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_INVALID_UTF8_SUBSTITUTE) . "\n");
        };
        // Built in each process: connections never cross a fork.
        $makeWorker = static function () use ($one, $int, $options, $queues, $log): Worker {
            $bus = null;
            $configure = null;
            if (($bootstrap = $one('bootstrap')) !== null) {
                $loaded = require $bootstrap;
                if ($loaded instanceof EventBus) {
                    $bus = $loaded;
                } elseif ($loaded instanceof \Closure) {
                    $configure = $loaded;
                } else {
                    throw new \InvalidArgumentException("[thrun] {$bootstrap} must return a Thrun\\EventBus or a closure(EventBus): void");
                }
            }
            $bus ??= new EventBus(
                Transports::create($one('transport', 'redis-lists'), $one('url'), $one('prefix', ''), $one('group', 'default')),
                source: $one('source', 'php'),
            );
            if ($configure !== null) {
                $configure($bus);
            }
            if (($listeners = $one('listeners')) !== null) {
                $bus->discover($listeners, $one('cache'));
            }
            return new Worker(
                $bus,
                queues: $queues,
                maxAttempts: $int('max-attempts', 5),
                backoffMs: $int('backoff', 1_000),
                maxBackoffMs: $int('max-backoff', 60_000),
                unknownEvents: $one('unknown-events', 'dead-letter'),
                prefetch: $int('prefetch', 10),
                maxJobs: $int('max-jobs'),
                maxTimeSeconds: ($time = $one('max-time')) !== null ? (float) $time : null,
                memoryMb: $int('memory'),
                log: $log,
                drainTimeoutMs: (int) round(1000 * (float) $one('drain-timeout', '10')),
                timeoutSeconds: $int('timeout', 60),
            );
        };
        $processes = $int('processes', 1);
        if ($processes > 1) {
            $log('info', 'worker pool started', ['queues' => $queues, 'processes' => $processes, 'pid' => getmypid()]);
            $status = (new WorkerPool($processes, $makeWorker, log: $log))->run();
            $log('info', 'worker pool stopped', ['status' => $status]);
            return $status;
        }
        $worker = $makeWorker();
        $log('info', 'worker started', ['queues' => $queues, 'pid' => getmypid()]);
        $why = $worker->run();
        $log('info', 'worker stopped', ['why' => $why] + $worker->stats);
        return 0;
    }

    /**
     * `--name value` and `--name=value`, each name possibly repeated.
     *
     * @param list<string> $arguments
     * @return array<string, list<string>>
     */
    private static function options(array $arguments): array
    {
        $options = [];
        for ($i = 0; $i < count($arguments); $i++) {
            $argument = $arguments[$i];
            if (!str_starts_with($argument, '--')) {
                throw new \InvalidArgumentException("[thrun] unexpected argument '{$argument}'");
            }
            [$name, $value] = str_contains($argument, '=') ? explode('=', substr($argument, 2), 2) : [substr($argument, 2), $arguments[++$i] ?? null];
            if ($value === null) {
                throw new \InvalidArgumentException("[thrun] --{$name} needs a value");
            }
            $options[$name][] = $value;
        }
        return $options;
    }
}
