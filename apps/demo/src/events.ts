import { ThrunJob } from '@thrun/core';

/** What the order service dispatches. The static `event` is the contract name on the wire. */
export interface OrderCreatedPayload {
  order_id: number;
  email: string;
  items: { sku: string; quantity: number }[];
}

export class OrderCreated extends ThrunJob<OrderCreatedPayload> {
  static readonly event = 'order_created';
}

export interface OrderReadyPayload {
  order_id: number;
}

export class OrderReady extends ThrunJob<OrderReadyPayload> {
  static readonly event = 'order_ready';
}
