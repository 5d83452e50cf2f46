<?php

declare(strict_types=1);

namespace Thrun\Tests\Fixtures\Events;

use Thrun\Attribute\ThrunEvent;

#[ThrunEvent('send_order_email')]
final class SendOrderEmail
{
    public function __construct(public int $order_id = 1)
    {
    }
}
