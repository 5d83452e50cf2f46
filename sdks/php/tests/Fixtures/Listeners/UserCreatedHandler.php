<?php

declare(strict_types=1);

namespace Thrun\Tests\Fixtures\Listeners;

use Thrun\Attribute\ThrunEventListener;
use Thrun\HandlerContext;
use Thrun\Tests\Fixtures\Events\UserCreated;

#[ThrunEventListener(UserCreated::class)]
final class UserCreatedHandler
{
    /** @var list<array{array, int}> */
    public static array $received = [];

    public function __invoke(array $payload, HandlerContext $context): void
    {
        self::$received[] = [$payload, $context->attempt];
    }
}
