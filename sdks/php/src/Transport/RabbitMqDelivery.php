<?php

declare(strict_types=1);

namespace Thrun\Transport;

/** A message taken with basic.get, settled on its channel. */
final class RabbitMqDelivery extends Delivery
{
    public function __construct(
        private readonly RabbitMqTransport $transport,
        private readonly \AMQPQueue $amqpQueue,
        public readonly \AMQPEnvelope $message,
        string $queue,
        int $attempt,
    ) {
        parent::__construct($queue, $message->getBody(), $attempt);
    }

    public function ack(): void
    {
        $this->amqpQueue->ack($this->message->getDeliveryTag());
    }

    public function retry(int $delayMs): void
    {
        $this->transport->publishRetry($this, $delayMs);
        $this->ack();
    }

    public function deadLetter(string $code, string $message): void
    {
        $this->transport->publishDeadLetter($this, $code, $message);
        $this->ack();
    }

    /** Back to the broker unsettled: redelivered, as its next attempt. */
    public function requeue(): void
    {
        $this->amqpQueue->nack($this->message->getDeliveryTag(), AMQP_REQUEUE);
    }
}
