package rabbitmq

import (
	"math"
	"regexp"
	"strconv"
	"time"
)

// The names of protocol/rabbitmq.md. Thrun queue names never contain ':', so ':' separates a queue
// from its group and its buckets without any possible clash:
//
//	thrun.orders              fanout exchange; every group's queue is bound to it
//	orders                    the default group's queue (a plain AMQP producer sending to "orders" reaches it)
//	orders:billing            the group "billing"
//	orders:delay:1500         delayed publishes, expiring into thrun.orders (every group)
//	orders:billing:retry:1500 the group's retries, expiring back into orders:billing only
//	orders.dead               dead letters (classic), with its exchange thrun.orders.dead
const (
	// DefaultGroup is the group whose AMQP queue is named like the Thrun queue.
	DefaultGroup = "default"
	deadSuffix   = ".dead"
)

func exchangeName(queue string) string { return "thrun." + queue }

func groupQueueName(queue, group string) string {
	if group == DefaultGroup {
		return queue
	}
	return queue + ":" + group
}

func retryQueueName(groupQueue string, bucketMs int64) string {
	return groupQueue + ":retry:" + strconv.FormatInt(bucketMs, 10)
}

func delayQueueName(queue string, bucketMs int64) string {
	return queue + ":delay:" + strconv.FormatInt(bucketMs, 10)
}

func deadQueueName(queue string) string { return queue + deadSuffix }

var groupPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`)

// delayBucketMs rounds a delay up to two significant digits (1234 ms → 1300 ms): each bucket is a
// queue with one queue-wide TTL, so messages expire in arrival order and a long delay never holds
// a short one back. Rounding up means never early, at most 10% late. 0 means no delay.
func delayBucketMs(delay time.Duration) int64 {
	if delay <= 0 {
		return 0
	}
	ms := int64(math.Ceil(float64(delay) / float64(time.Millisecond)))
	if ms < 100 {
		return ms
	}
	step := int64(math.Pow(10, math.Floor(math.Log10(float64(ms)))-1))
	return (ms + step - 1) / step * step
}

// Header names, protocol/headers.json ("rabbitmq").
const (
	headerAttempts      = "x-thrun-attempts"
	headerKey           = "x-thrun-key"
	headerDeliveryCount = "x-delivery-count"
)
