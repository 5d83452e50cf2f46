import { defineListener } from '../../listeners.js';
import { received } from './order-mailer.js';

export const audit = defineListener('order.*', function auditOrders(payload: { order_id?: number }, ctx) {
  received.push(`audit:${ctx.name}:${payload.order_id}`);
});

/** Exported twice: registered once. */
export default audit;
