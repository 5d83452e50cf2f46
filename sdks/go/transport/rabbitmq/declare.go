package rabbitmq

import amqp "github.com/rabbitmq/amqp091-go"

// Idempotent declarations, with exactly the arguments of protocol/rabbitmq.md: RabbitMQ refuses a
// declaration that differs from the existing one (406), so every runtime must declare alike.

// declareGroup declares the queue's fanout exchange, a group's queue and its binding.
func declareGroup(ch *amqp.Channel, queueType, queue, groupQueue string) error {
	exchange := exchangeName(queue)
	if err := ch.ExchangeDeclare(exchange, "fanout", true, false, false, false, nil); err != nil {
		return err
	}
	if _, err := ch.QueueDeclare(groupQueue, true, false, false, false, amqp.Table{"x-queue-type": queueType}); err != nil {
		return err
	}
	return ch.QueueBind(groupQueue, "", exchange, false, nil)
}

// declareBucket declares a classic queue whose messages expire after ttlMs into exchange, with
// routingKey when it is not empty (retry buckets route back to their group's queue).
func declareBucket(ch *amqp.Channel, name string, ttlMs int64, exchange, routingKey string) error {
	args := amqp.Table{
		"x-queue-type":           "classic",
		"x-message-ttl":          smallestInt(ttlMs),
		"x-dead-letter-exchange": exchange,
	}
	if routingKey != "" {
		args["x-dead-letter-routing-key"] = routingKey
	}
	_, err := ch.QueueDeclare(name, true, false, false, false, args)
	return err
}

// smallestInt is n as the smallest signed AMQP integer type that holds it, the type amqplib (and so
// the TypeScript transport) writes: RabbitMQ compares declaration arguments with their types.
func smallestInt(n int64) any {
	switch {
	case n >= -1<<7 && n < 1<<7:
		return int8(n)
	case n >= -1<<15 && n < 1<<15:
		return int16(n)
	case n >= -1<<31 && n < 1<<31:
		return int32(n)
	default:
		return n
	}
}
