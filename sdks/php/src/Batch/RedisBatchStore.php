<?php

declare(strict_types=1);

namespace Thrun\Batch;

use Thrun\Transport\DeadLetter;
use Thrun\Transport\LeaseKeeper;
use Thrun\Transport\LuaScripts;

/**
 * The batch store of the TypeScript runtime (packages/transport-redis redis-batch-store.ts), on the
 * same keys (`{<prefix>batch}:<id>:state|jobs|settled|outbox|claims`, `{<prefix>batch}:due`) and the
 * shared `protocol/redis/batch-*.lua` scripts, so a batch created here is advanced by any runtime's
 * engine and the other way round. Each method is one atomic transition.
 */
final class RedisBatchStore
{
    public const DEFAULT_CLAIM_TTL_MS = 10_000;
    public const DEFAULT_RETENTION_MS = 24 * 60 * 60 * 1000;
    /** How long a step's run lease lasts: another copy of its message waits while one runs. */
    public const DEFAULT_STEP_LEASE_MS = 30_000;

    private readonly LuaScripts $scripts;
    private ?LeaseKeeper $keeper = null;

    public function __construct(
        private readonly \Redis $redis,
        private readonly string $keyPrefix = '',
        private readonly int $claimTtlMs = self::DEFAULT_CLAIM_TTL_MS,
        private readonly int $retentionMs = self::DEFAULT_RETENTION_MS,
        public readonly int $stepLeaseMs = self::DEFAULT_STEP_LEASE_MS,
    ) {
        $this->scripts = LuaScripts::shared();
    }

    /** @return array{state: string, jobs: string, settled: string, outbox: string, claims: string, due: string} */
    public function keys(string $id): array
    {
        $tag = "{{$this->keyPrefix}batch}";
        $base = "{$tag}:{$id}";
        return ['state' => "{$base}:state", 'jobs' => "{$base}:jobs", 'settled' => "{$base}:settled", 'outbox' => "{$base}:outbox", 'claims' => "{$base}:claims", 'due' => "{$tag}:due"];
    }

    /**
     * Stores a new batch and starts it; returns the emissions to publish (its first step, or every
     * step in parallel mode).
     *
     * @param list<array{event: string, payload: array}> $jobs
     * @param array{thenEvent?: string, catchEvent?: string, finallyEvent?: string, progressEvent?: string} $lifecycle
     * @return list<array> emissions
     */
    public function create(string $id, array $jobs, array $lifecycle, array $shared = [], string $mode = 'sequential', int $allowFailures = 0, ?string $queue = null, ?string $name = null): array
    {
        $now = \Thrun\Envelope::now();
        $total = count($jobs);
        $statics = ['id' => $id] + ($name === null ? [] : ['name' => $name]) + ($queue === null ? [] : ['queue' => $queue])
            + ['lifecycle' => (object) $lifecycle, 'shared' => (object) $shared, 'createdAt' => $now];
        $sharedText = substr(self::json((object) $shared), 1, -1);
        $fields = [
            'static', self::json($statics),
            'idj', self::json($id),
            'shared', $sharedText === '' ? '' : "{$sharedText},",
            'mode', $mode,
            'status', 'pending',
            'total', (string) $total,
            'completed', '0',
            'failed', '0',
            'allowFailures', (string) $allowFailures,
            'updatedAt', $now,
            'gen', \Thrun\Envelope::uuid(),
        ];
        foreach (['thenEvent', 'catchEvent', 'finallyEvent', 'progressEvent'] as $role) {
            if (isset($lifecycle[$role])) {
                array_push($fields, $role, self::json($lifecycle[$role]));
            }
        }
        $encodedJobs = [];
        foreach (array_values($jobs) as $index => $job) {
            $encodedJobs[] = self::json($job['event']) . "\n" . self::json([
                'key' => "step:{$index}",
                'kind' => 'step',
                'event' => $job['event'],
                'payload' => (object) $job['payload'],
                'batch' => ['id' => $id, 'index' => $index, 'total' => $total, 'mode' => $mode],
            ]);
        }
        $reply = $this->run('batch-create', $id, [$this->claimTtlMs, $this->retentionMs, count($fields), ...$fields, '', '', '', '', ...$encodedJobs]);
        return array_map(self::emission(...), $reply ?: []);
    }

    /**
     * Records a step's final outcome; returns the emissions it decided (next step, progress,
     * then/catch/finally) and the batch's queue.
     *
     * @return array{0: list<array>, 1: ?string}
     */
    public function recordStep(string $id, int $index, ?array $error = null): array
    {
        $error ??= ['code' => '', 'message' => ''];
        $reply = $this->run('batch-record-step', $id, [
            (string) $index, $error['code'] === '' ? '1' : '0', self::json($error),
            self::json(['code' => $error['code'], 'message' => $error['message']]), $this->claimTtlMs, $this->retentionMs, '',
        ]);
        return self::transition($reply, false);
    }

    /**
     * Cancels a running batch; returns its catch (`cancelled`) and finally emissions (none if it had
     * ended) and the batch's queue.
     *
     * @return array{0: list<array>, 1: ?string}
     */
    public function cancel(string $id): array
    {
        return self::transition($this->run('batch-cancel', $id, [$this->claimTtlMs, $this->retentionMs, '']), true);
    }

    /** A transition's reply `{applied, state, settled, jobs, claimed}` → [emissions, queue]. */
    private static function transition(array $reply, bool $onlyApplied): array
    {
        if (count($reply) === 1 || ($onlyApplied && $reply[0] !== 1)) {
            return [[], null];
        }
        $state = self::state($reply[1]);
        $queue = json_decode($state['static'], true)['queue'] ?? null;
        return [array_map(self::emission(...), $reply[4] ?: []), $queue];
    }

    /** @return array<string, string> */
    private static function state(array $flat): array
    {
        $state = [];
        for ($i = 0, $n = count($flat); $i < $n; $i += 2) {
            $state[$flat[$i]] = $flat[$i + 1];
        }
        return $state;
    }

    /** @return array<string, mixed>|null the record's fields (static ones merged in), null when unknown */
    public function get(string $id): ?array
    {
        $keys = $this->keys($id);
        $reply = $this->scripts->run($this->redis, 'batch-get', [$keys['state'], $keys['jobs'], $keys['settled']], ['']);
        if ($reply[0] === 0) {
            return null;
        }
        $state = self::state($reply[1]);
        $statics = json_decode($state['static'], true, 512, JSON_THROW_ON_ERROR);
        return $statics + [
            'mode' => $state['mode'],
            'status' => $state['status'],
            'total' => (int) $state['total'],
            'completed' => (int) $state['completed'],
            'failed' => (int) $state['failed'],
            'updatedAt' => $state['updatedAt'],
            'settled' => array_map('intval', $reply[2] ?: []),
        ] + (isset($state['finishedAt']) ? ['finishedAt' => $state['finishedAt']] : [])
          + (isset($state['failure']) ? ['failure' => json_decode($state['failure'], true)] : []);
    }

    /**
     * Takes the run lease of a step: `run`, `busy` (another live lease), `settled`, `ended` (the
     * batch runs no more steps) or `unknown`.
     */
    public function startStep(string $id, int $index, string $token, int $leaseMs): string
    {
        $keys = $this->keys($id);
        return (string) $this->scripts->run($this->redis, 'batch-step-start', [$keys['state'], $keys['settled']], [(string) $index, $token, max(1, $leaseMs)]);
    }

    /**
     * Renews a step's run lease every third of `leaseMs` until `stopRenewing`, from a `LeaseKeeper`
     * process, so a step that runs longer than its lease is not started again elsewhere meanwhile.
     */
    public function keepRenewing(string $id, int $index, string $token, int $leaseMs): void
    {
        if (!function_exists('proc_open')) {
            return;
        }
        $this->keeper ??= LeaseKeeper::start($this->redis, max(100, intdiv($leaseMs, 3)));
        $this->keeper->keep("step {$id} {$index}", $this->scripts, 'batch-step-renew', [$this->keys($id)['state']], [(string) $index, $token, max(1, $leaseMs)]);
    }

    public function stopRenewing(string $id, int $index): void
    {
        $this->keeper?->drop("step {$id} {$index}");
    }

    /** Gives a step's lease back without an outcome: the step will be retried. */
    public function releaseStep(string $id, int $index, string $token): void
    {
        $this->scripts->run($this->redis, 'batch-step-renew', [$this->keys($id)['state']], [(string) $index, $token, '0']);
    }

    /** @param list<string> $emissionKeys */
    public function markEmitted(string $id, array $emissionKeys): void
    {
        $keys = $this->keys($id);
        if ($emissionKeys !== []) {
            $this->scripts->run($this->redis, 'batch-mark-emitted', [$keys['state'], $keys['outbox'], $keys['claims'], $keys['due']], $emissionKeys);
        }
    }

    /** @param list<string> $emissionKeys */
    public function release(string $id, array $emissionKeys): void
    {
        $keys = $this->keys($id);
        if ($emissionKeys !== []) {
            $this->scripts->run($this->redis, 'batch-release', [$keys['state'], $keys['claims'], $keys['due']], $emissionKeys);
        }
    }

    /** A name-based UUID (version 5) per batch and emission key, as every runtime derives it. */
    public static function eventId(string $batchId, string $key): string
    {
        $hash = sha1("thrun.batch:{$batchId}:{$key}", true);
        $hash[6] = chr((ord($hash[6]) & 0x0f) | 0x50);
        $hash[8] = chr((ord($hash[8]) & 0x3f) | 0x80);
        return vsprintf('%s%s-%s-%s-%s-%s%s%s', str_split(bin2hex(substr($hash, 0, 16)), 4));
    }

    private function run(string $script, string $id, array $args): mixed
    {
        $keys = $this->keys($id);
        return $this->scripts->run($this->redis, $script, [$keys['state'], $keys['jobs'], $keys['settled'], $keys['outbox'], $keys['claims'], $keys['due']], $args);
    }

    private static function emission(string $json): array
    {
        return json_decode($json, true, 512, JSON_THROW_ON_ERROR);
    }

    private static function json(mixed $value): string
    {
        return DeadLetter::json($value);
    }
}
