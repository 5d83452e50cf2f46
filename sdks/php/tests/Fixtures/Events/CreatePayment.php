<?php

declare(strict_types=1);

namespace Thrun\Tests\Fixtures\Events;

use Thrun\Attribute\ThrunEvent;

#[ThrunEvent('create_payment')]
final class CreatePayment
{
    public function __construct(public int $order_id = 1)
    {
    }
}
