<?php

declare(strict_types=1);

namespace Thrun;

use Thrun\Batch\Batches;
use Thrun\Batch\PendingBatch;
use Thrun\Batch\RedisBatchStore;
use Thrun\Codec\Codec;
use Thrun\Transport\Transport;

/**
 * The PHP face of Thrun: dispatch events by name or by class, subscribe listeners, discover
 * attributed ones, create batches. The wire is the other runtimes': a class resolves to the contract
 * name it declares with `#[ThrunEvent]`, and `meta` is filled on every dispatch.
 *
 * Dispatch options: `queue` (else the first matching route, else the default queue), `delayMs`,
 * `eventId`, `correlationId`, `causationId`, `traceparent`, `meta` (extra members), `parent` (the
 * envelope being handled: causation and correlation follow from it).
 */
final class EventBus
{
    /** @var list<Listener> */
    private array $listeners = [];
    /** @var array<string, list<Listener>> */
    private array $resolved = [];
    private readonly \Closure $factory;
    private ?Batches $batches = null;
    private ?string $reportQueue = null;

    /** The reports a worker without the batch store publishes for a step (schemas/batch.md). */
    public const STEP_SUCCEEDED = 'thrun.batch.step_succeeded';
    public const STEP_FAILED = 'thrun.batch.step_failed';

    /**
     * @param array<string, string> $routes event pattern → queue, first match wins
     * @param (\Closure(class-string): object)|null $factory builds listener classes (a container's `get`)
     */
    public function __construct(
        public readonly Transport $transport,
        public readonly string $source = 'php',
        public readonly string $defaultQueue = 'events',
        private readonly array $routes = [],
        ?\Closure $factory = null,
        public readonly Codec $codec = new Codec(),
        private readonly ?RedisBatchStore $batchStore = null,
    ) {
        EventName::assertValid($defaultQueue);
        foreach ($routes as $pattern => $queue) {
            EventName::patternOf((string) $pattern);
            EventName::assertValid($queue);
        }
        $this->factory = $factory ?? static fn (string $class): object => new $class();
    }

    /** Dispatches one event; returns its `meta.event_id` once the transport accepted it. */
    public function event(string|object $target, array $payload = [], array $options = []): string
    {
        [$queue, $envelope] = $this->prepare($target, $payload, $options);
        $this->transport->publish($queue, [$this->codec->encode($envelope)], (int) ($options['delayMs'] ?? 0));
        return $envelope->eventId();
    }

    /**
     * Dispatches several events, one publish per queue, keeping their order within a queue.
     * Items: `['event' => name|class, 'payload' => [...], 'options' => [...]]`, or event class instances.
     *
     * @return list<string> their event ids, in the order given
     */
    public function events(array $items, array $options = []): array
    {
        $byQueue = [];
        $ids = [];
        foreach ($items as $item) {
            [$target, $payload, $itemOptions] = self::unpack($item);
            $itemOptions += $options;
            if (isset($itemOptions['delayMs'])) {
                throw new \InvalidArgumentException('[thrun] a bulk dispatch has no delayMs: use event() for a delayed one');
            }
            [$queue, $envelope] = $this->prepare($target, $payload, $itemOptions);
            $byQueue[$queue][] = $this->codec->encode($envelope);
            $ids[] = $envelope->eventId();
        }
        foreach ($byQueue as $queue => $messages) {
            $this->transport->publish((string) $queue, $messages);
        }
        return $ids;
    }

    /**
     * Subscribes a listener: an event name, a pattern (`order.*`, `billing.#`) or an event class, and a
     * class name (invokable), a `[class, method]` pair or a callable.
     */
    public function subscribe(string $target, string|array|callable $handler): void
    {
        $this->listeners[] = new Listener(EventName::patternOf($target), $handler, $this->factory);
        $this->resolved = [];
    }

    /** Subscribes every `#[ThrunEventListener]` under a directory, through the cached map when given. */
    public function discover(string $directory, ?string $cacheFile = null): void
    {
        $this->subscribeMap(Discovery::load($directory, $cacheFile));
    }

    /** @param list<array{0: string, 1: class-string, 2: ?string}> $map as `Discovery` builds it */
    public function subscribeMap(array $map): void
    {
        foreach ($map as [$pattern, $class, $method]) {
            $this->subscribe($pattern, $method === null ? $class : [$class, $method]);
        }
    }

    /** @return list<Listener> the listeners of an event name, in subscription order */
    public function listenersFor(string $name): array
    {
        if (!isset($this->resolved[$name])) {
            if (count($this->resolved) >= 10_000) {
                $this->resolved = []; // bounded: names may come from outside
            }
            $this->resolved[$name] = array_values(array_filter($this->listeners, fn (Listener $l) => $l->matches($name)));
        }
        return $this->resolved[$name];
    }

    /** The queue an event named `name` is dispatched to: the first matching route, else the default queue. */
    public function queueFor(string $name): string
    {
        foreach ($this->routes as $pattern => $queue) {
            if (EventName::matches((string) $pattern, $name)) {
                return $queue;
            }
        }
        return $this->defaultQueue;
    }

    /**
     * Starts a batch of steps (`new CreatePayment()`, `['event' => …, 'payload' => …]`): chain its
     * lifecycle events, then `->dispatch()` creates it and returns its id.
     */
    public function batch(array $steps): PendingBatch
    {
        $store = $this->batchStore ?? throw new \LogicException('[thrun] batches need a batch store: pass batchStore to the EventBus');
        return new PendingBatch($this, $store, $steps);
    }

    /** Batch status and cancel; null without a batch store. */
    public function batches(): ?Batches
    {
        return $this->batchStore === null ? null : ($this->batches ??= new Batches($this, $this->batchStore));
    }

    /**
     * The queue this bus consumes step reports from, named in `meta.batch.report_to` of the steps it
     * dispatches; null until `acceptBatchReports()`.
     */
    public function reportQueue(): ?string
    {
        return $this->reportQueue;
    }

    /**
     * Records the step reports of workers that send them (`thrun.batch.step_succeeded`/`step_failed`,
     * schemas/batch-step-report.schema.json), as the TypeScript engine's `acceptReports` does.
     */
    public function acceptBatchReports(): void
    {
        $batches = $this->batches() ?? throw new \LogicException('[thrun] batch reports need a batch store');
        $this->reportQueue = $this->queueFor(self::STEP_SUCCEEDED);
        $this->subscribe(self::STEP_SUCCEEDED, static function (array $report) use ($batches): void {
            $batches->recordStep(self::reportedId($report), self::reportedIndex($report));
        });
        $this->subscribe(self::STEP_FAILED, static function (array $report) use ($batches): void {
            $error = $report['error'] ?? null;
            if (!is_string($error['code'] ?? null) || !is_string($error['message'] ?? null)) {
                throw new PermanentError('a step_failed report needs error {code, message}', 'schema_violation');
            }
            $batches->recordStep(self::reportedId($report), self::reportedIndex($report), ['code' => $error['code'], 'message' => $error['message']]);
        });
    }

    private static function reportedId(array $report): string
    {
        return is_string($report['batch_id'] ?? null) ? $report['batch_id'] : throw new PermanentError('a step report needs batch_id and index', 'schema_violation');
    }

    private static function reportedIndex(array $report): int
    {
        return is_int($report['index'] ?? null) ? $report['index'] : throw new PermanentError('a step report needs batch_id and index', 'schema_violation');
    }

    /** @internal the envelope of one step or event, and its queue */
    public function prepare(string|object $target, array $payload, array $options): array
    {
        if (is_object($target)) {
            $payload = $payload === [] ? self::payloadOf($target) : $payload;
        }
        $name = EventName::of($target);
        $meta = $options['meta'] ?? [];
        $parent = $options['parent'] ?? null;
        $parentMeta = $parent instanceof Envelope ? ($parent->meta ?? []) : [];
        $correlation = $options['correlationId'] ?? $parentMeta['correlation_id'] ?? $parentMeta['event_id'] ?? null;
        $causation = $options['causationId'] ?? $parentMeta['event_id'] ?? null;
        $traceparent = $options['traceparent'] ?? $parentMeta['traceparent'] ?? null;
        foreach (['correlation_id' => $correlation, 'causation_id' => $causation, 'traceparent' => $traceparent] as $key => $value) {
            if ($value !== null) {
                $meta[$key] = $value;
            }
        }
        $envelope = new Envelope($name, $payload, [
            'event_id' => $options['eventId'] ?? Envelope::uuid(),
            'timestamp' => Envelope::now(),
            'source' => $this->source,
            'spec_version' => Envelope::SPEC_VERSION,
        ] + $meta);
        $queue = $options['queue'] ?? $this->queueFor($name);
        return [EventName::assertValid($queue), $envelope];
    }

    /** @return array{0: string|object, 1: array, 2: array} */
    public static function unpack(mixed $item): array
    {
        if (is_array($item)) {
            return [$item['event'] ?? throw new \InvalidArgumentException('[thrun] a bulk item needs an event'), $item['payload'] ?? [], $item['options'] ?? []];
        }
        if (is_object($item)) {
            return [$item, self::payloadOf($item), []];
        }
        throw new \InvalidArgumentException('[thrun] a bulk item is an event class instance or [event, payload]');
    }

    /** An event object's payload: its `toPayload()` when it has one, else its public properties. */
    public static function payloadOf(object $event): array
    {
        return method_exists($event, 'toPayload') ? $event->toPayload() : get_object_vars($event);
    }
}
