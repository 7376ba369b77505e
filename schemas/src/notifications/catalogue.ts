import type { EventCatalogue } from '../catalogue.ts';
import { deliveryEvents } from './events.ts';
import { sendEvents } from './sends.ts';
import { subscriptionEvents } from './subscriptions.ts';

/**
 * Every event type of the notifications context, by type: what its golden
 * fixtures (`schemas/fixtures/notifications/`) are checked against. The
 * context's other catalogues (the worker's decision events, …) join it here,
 * so a fixture of any of them is checked without a test of its own.
 */
export const notificationEvents = {
  ...subscriptionEvents,
  ...sendEvents,
  ...deliveryEvents,
} satisfies EventCatalogue;
