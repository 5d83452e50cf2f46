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

/** The steps of the order batch: jobs whose handlers are ordinary listeners of these names. */
export class CreatePayment extends ThrunJob<{ order_id: number }> {
  static readonly event = 'create_payment';
}

export class CreateOrder extends ThrunJob {
  static readonly event = 'create_order';
}

export class SendOrderEmail extends ThrunJob {
  static readonly event = 'send_order_email';
}

/** What the batch's lifecycle events carry (schemas/batch-*.schema.json), plus the shared `order_id`. */
export interface BatchLifecyclePayload {
  batch_id: string;
  order_id: number;
  completed: number;
  total: number;
  percent?: number;
  status?: string;
  error?: { code: string; message: string };
  failed_job?: { event: string; index: number } | null;
}
