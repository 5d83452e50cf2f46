<?php

declare(strict_types=1);

namespace Thrun\Tests\Fixtures\Events;

use Thrun\Attribute\ThrunEvent;

#[ThrunEvent('user_created')]
final class UserCreated
{
    public function __construct(public int $user_id = 0)
    {
    }
}
