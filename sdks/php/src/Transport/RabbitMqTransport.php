<?php

declare(strict_types=1);

namespace Thrun\Transport;

/**
 * RabbitMQ (AMQP 0-9-1) through ext-amqp, with the names, arguments and headers of
 * `protocol/rabbitmq.md`: a fanout exchange `thrun.q` per queue, the group's queue `q` (or `q:g`),
 * delay and retry buckets (`q:delay:<ms>`, `<group queue>:retry:<ms>`) that dead-letter back, and
 * `q.dead` with the `thrun-dead-*` headers. Publishes wait for the broker's confirm; a retry or a dead
 * letter acknowledges the original only once its copy is confirmed.
 *
 * It reads with `basic.get`: a PHP worker handles one message at a time, so nothing is prefetched
 * that a crash or a stop would have to give back.
 */
final class RabbitMqTransport implements Transport
{
    private \AMQPChannel $channel;
    /** @var array<string, true> entities declared by this connection */
    private array $declared = [];
    /** @var array<int, true> delivery tags of publishes the broker has not confirmed yet */
    private array $unconfirmed = [];
    /** The channel numbers publishes from 1 once in confirm mode. */
    private int $published = 0;
    private ?string $refusal = null;

    public function __construct(
        private readonly \AMQPConnection $connection,
        private readonly string $group = 'default',
        private readonly string $queueType = 'quorum',
    ) {
        if (!$connection->isConnected()) {
            $connection->connect();
        }
        $this->channel = new \AMQPChannel($connection);
        $this->channel->confirmSelect();
        $this->channel->setConfirmCallback(
            fn (int $tag, bool $multiple): bool => $this->confirmed($tag, $multiple),
            function (int $tag, bool $multiple): bool {
                $this->refusal = 'the broker refused the message (basic.nack)';
                return $this->confirmed($tag, $multiple);
            },
        );
        $this->channel->setReturnCallback(function (int $code, string $text, string $exchange, string $routingKey): bool {
            $this->refusal = "no queue took the message ({$code} {$text}, exchange '{$exchange}', routing key '{$routingKey}')";
            return false;
        });
    }

    public static function fromUrl(string $url, string $group = 'default', string $queueType = 'quorum'): self
    {
        $parts = parse_url($url);
        if ($parts === false || ($parts['scheme'] ?? '') !== 'amqp') {
            throw new \InvalidArgumentException('[thrun:rabbitmq] expected an amqp:// URL');
        }
        $vhost = isset($parts['path']) && $parts['path'] !== '/' && $parts['path'] !== '' ? rawurldecode(substr($parts['path'], 1)) : '/';
        $connection = new \AMQPConnection([
            'host' => $parts['host'] ?? '127.0.0.1',
            'port' => $parts['port'] ?? 5672,
            'login' => rawurldecode($parts['user'] ?? 'guest'),
            'password' => rawurldecode($parts['pass'] ?? 'guest'),
            'vhost' => $vhost,
            'connect_timeout' => 5,
        ]);
        $connection->connect();
        return new self($connection, $group, $queueType);
    }

    public function groupQueue(string $queue): string
    {
        return $this->group === 'default' ? $queue : "{$queue}:{$this->group}";
    }

    /** A delay rounded up to its bucket: two significant digits, so never early and at most 10% late. */
    public static function bucketMs(int $delayMs): int
    {
        if ($delayMs < 100) {
            return $delayMs;
        }
        $step = 10 ** ((int) floor(log10($delayMs)) - 1);
        return (int) (ceil($delayMs / $step) * $step);
    }

    public function publish(string $queue, array $messages, int $delayMs = 0): void
    {
        $this->declareGroup($queue, $queue);
        if ($delayMs > 0) {
            $bucket = self::bucketMs($delayMs);
            $name = "{$queue}:delay:{$bucket}";
            $this->declareBucket($name, $bucket, "thrun.{$queue}", null);
            foreach ($messages as $body) {
                $this->send('', $name, $body, []);
            }
        } else {
            foreach ($messages as $body) {
                $this->send("thrun.{$queue}", '', $body, []);
            }
        }
        $this->confirm();
    }

    public function subscribe(string $queue): void
    {
        $this->declareGroup($queue, $this->groupQueue($queue));
    }

    public function fetch(string $queue, int $max, float $timeoutSeconds): array
    {
        $groupQueue = $this->groupQueue($queue);
        $this->declareGroup($queue, $groupQueue);
        $amqpQueue = new \AMQPQueue($this->channel);
        $amqpQueue->setName($groupQueue);
        $deadline = microtime(true) + $timeoutSeconds;
        $pause = 2_000;
        for (;;) {
            $message = $amqpQueue->get(AMQP_NOPARAM);
            if ($message instanceof \AMQPEnvelope) {
                return [new RabbitMqDelivery($this, $amqpQueue, $message, $queue, self::attemptOf($message))];
            }
            if (microtime(true) >= $deadline) {
                return [];
            }
            usleep($pause);
            $pause = min(50_000, $pause * 2);
        }
    }

    /** `x-thrun-attempts` + the broker's redeliveries of this copy + 1. */
    public static function attemptOf(\AMQPEnvelope $message): int
    {
        $headers = $message->getHeaders();
        $before = $headers['x-thrun-attempts'] ?? 0;
        $before = is_int($before) && $before > 0 ? $before : 0;
        $count = $headers['x-delivery-count'] ?? null;
        $redeliveries = is_int($count) ? max(0, $count) : ($message->isRedelivery() ? 1 : 0);
        return $before + $redeliveries + 1;
    }

    public function heartbeat(): void
    {
    }

    public function close(array $started = []): void
    {
        foreach ($started as $delivery) {
            if ($delivery instanceof RabbitMqDelivery) {
                $delivery->requeue();
            }
        }
    }

    public function disconnect(): void
    {
        if ($this->connection->isConnected()) {
            $this->connection->disconnect();
        }
    }

    /** @internal a retry copy: to the group's queue now, or through its retry bucket */
    public function publishRetry(RabbitMqDelivery $delivery, int $delayMs): void
    {
        $groupQueue = $this->groupQueue($delivery->queue);
        $headers = [];
        foreach ($delivery->message->getHeaders() as $name => $value) {
            if (is_string($value)) {
                $headers[$name] = $value; // text-valued headers are carried, others are not
            }
        }
        $headers['x-thrun-attempts'] = $delivery->attempt;
        $this->declareGroup($delivery->queue, $groupQueue);
        if ($delayMs > 0) {
            $bucket = self::bucketMs($delayMs);
            $name = "{$groupQueue}:retry:{$bucket}";
            $this->declareBucket($name, $bucket, '', $groupQueue);
            $this->send('', $name, $delivery->body, $headers);
        } else {
            $this->send('', $groupQueue, $delivery->body, $headers);
        }
        $this->confirm();
    }

    /** @internal */
    public function publishDeadLetter(RabbitMqDelivery $delivery, string $code, string $message): void
    {
        $dead = "{$delivery->queue}.dead";
        $this->declareGroup($dead, $dead, 'classic');
        $this->send('', $dead, $delivery->body, DeadLetter::headers($delivery->queue, $code, $message, $delivery->attempt));
        $this->confirm();
    }

    public function channel(): \AMQPChannel
    {
        return $this->channel;
    }

    private function send(string $exchange, string $routingKey, string $body, array $headers): void
    {
        $amqpExchange = new \AMQPExchange($this->channel);
        $amqpExchange->setName($exchange);
        $attributes = ['delivery_mode' => AMQP_DURABLE, 'message_id' => bin2hex(random_bytes(8))];
        if ($headers !== []) {
            $attributes['headers'] = $headers;
        }
        $amqpExchange->publish($body, $routingKey, AMQP_MANDATORY, $attributes);
        $this->unconfirmed[++$this->published] = true;
    }

    /** Whether to keep waiting: some publish is still unconfirmed. */
    private function confirmed(int $tag, bool $multiple): bool
    {
        if ($multiple) {
            $this->unconfirmed = array_filter($this->unconfirmed, static fn (int $pending) => $pending > $tag, ARRAY_FILTER_USE_KEY);
        } else {
            unset($this->unconfirmed[$tag]);
        }
        return $this->unconfirmed !== [];
    }

    /** Waits until the broker confirmed every publish since the last wait; a nack or return throws. */
    private function confirm(): void
    {
        if ($this->unconfirmed !== []) {
            $this->channel->waitForConfirm(10.0);
        }
        if ($this->refusal !== null) {
            [$refusal, $this->refusal] = [$this->refusal, null];
            throw new \RuntimeException("[thrun:rabbitmq] {$refusal}");
        }
    }

    private function declareGroup(string $queue, string $groupQueue, ?string $queueType = null): void
    {
        if (isset($this->declared[$groupQueue])) {
            return;
        }
        $exchange = new \AMQPExchange($this->channel);
        $exchange->setName("thrun.{$queue}");
        $exchange->setType(AMQP_EX_TYPE_FANOUT);
        $exchange->setFlags(AMQP_DURABLE);
        $exchange->declareExchange();
        $amqpQueue = new \AMQPQueue($this->channel);
        $amqpQueue->setName($groupQueue);
        $amqpQueue->setFlags(AMQP_DURABLE);
        $amqpQueue->setArguments(['x-queue-type' => $queueType ?? $this->queueType]);
        $amqpQueue->declareQueue();
        $amqpQueue->bind("thrun.{$queue}", '');
        $this->declared[$groupQueue] = true;
    }

    private function declareBucket(string $name, int $ttlMs, string $exchange, ?string $routingKey): void
    {
        if (isset($this->declared[$name])) {
            return;
        }
        $arguments = ['x-queue-type' => 'classic', 'x-message-ttl' => $ttlMs, 'x-dead-letter-exchange' => $exchange];
        if ($routingKey !== null) {
            $arguments['x-dead-letter-routing-key'] = $routingKey;
        }
        $amqpQueue = new \AMQPQueue($this->channel);
        $amqpQueue->setName($name);
        $amqpQueue->setFlags(AMQP_DURABLE);
        $amqpQueue->setArguments($arguments);
        $amqpQueue->declareQueue();
        $this->declared[$name] = true;
    }
}
