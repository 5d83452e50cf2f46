import { defineListener } from '@thrun/core';
import { OrderCreated, type OrderCreatedPayload, OrderReady } from '../events.js';
import { trace } from '../trace.js';

/**
 * A manual listener (no decorator), found by discovery all the same. The warehouse is flaky: the
 * first two attempts time out, the third succeeds. Only this listener is retried; the email above
 * is not sent again.
 */
export const reserveStock = defineListener(
  OrderCreated,
  async function reserveStock(payload: OrderCreatedPayload, ctx) {
    if (ctx.attempt < 3) {
      trace(
        '✗',
        `reserveStock            order ${payload.order_id}: warehouse timed out (attempt ${ctx.attempt} of ${ctx.maxAttempts})`,
      );
      throw new Error('warehouse timed out');
    }
    const units = payload.items.reduce((sum, item) => sum + item.quantity, 0);
    trace(
      '✓',
      `reserveStock            order ${payload.order_id}: ${units} units reserved (attempt ${ctx.attempt})`,
    );
    trace('→', `reserveStock            dispatching order_ready (causation: this order_created)`);
    await ctx.event(new OrderReady({ order_id: payload.order_id }));
  },
);
