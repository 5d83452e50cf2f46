<?php

declare(strict_types=1);

namespace Thrun\Tests\Fixtures\Listeners;

use Thrun\Attribute\ThrunEventListener;
use Thrun\HandlerContext;

/** Methods as listeners, one with a wildcard, one dispatching a follow-up event. */
final class OrderListeners
{
    /** @var list<string> */
    public static array $seen = [];

    #[ThrunEventListener('order.*')]
    public function anyOrder(array $payload, HandlerContext $context): void
    {
        self::$seen[] = 'any:' . $context->name();
    }

    #[ThrunEventListener('order.created')]
    public function created(array $payload, HandlerContext $context): void
    {
        self::$seen[] = 'created:' . $payload['order_id'];
        $context->event('order.confirmed', ['order_id' => $payload['order_id']]);
    }
}
