import { ThrunEventListener } from '../../listeners.js';

export const received: string[] = [];

@ThrunEventListener('order_created')
export class OrderMailer {
  handle(payload: { order_id: number }): void {
    received.push(`mailer:${payload.order_id}`);
  }
}
