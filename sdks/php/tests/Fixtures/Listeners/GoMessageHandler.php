<?php

declare(strict_types=1);

namespace Thrun\Tests\Fixtures\Listeners;

use Thrun\Attribute\ThrunEventListener;

#[ThrunEventListener('go_message')]
final class GoMessageHandler
{
    /** @var list<array> */
    public static array $received = [];

    public function __invoke(array $payload): void
    {
        self::$received[] = $payload;
    }
}
