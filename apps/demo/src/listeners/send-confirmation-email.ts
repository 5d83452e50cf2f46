import { type HandlerContext, ThrunEventListener } from '@thrun/core';
import { OrderCreated, type OrderCreatedPayload } from '../events.js';
import { trace } from '../trace.js';

/** A decorated listener: discovered from this folder, one instance, `handle` per event. */
@ThrunEventListener(OrderCreated)
export class SendConfirmationEmail {
  handle(payload: OrderCreatedPayload, ctx: HandlerContext<OrderCreatedPayload>): void {
    trace(
      '✓',
      `SendConfirmationEmail   order ${payload.order_id}: confirmation mailed to ${payload.email} (attempt ${ctx.attempt})`,
    );
  }
}
