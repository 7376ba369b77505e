export { subscriptionCommandRoutes, type SubscriptionCommandDeps } from './routes.ts';
export { subscriptionsDecider } from './domain/subscriptions.ts';
// The link helpers live where a worker may import them (a worker imports no command service); named here too.
export { unsubscribeToken, parseUnsubscribeToken } from '@lectern/infra/notify/unsubscribe';
export { unsubscribeUrl } from '@lectern/schemas/notifications/subscriptions';
export { sendRoutes, type SendDeps } from './send-routes.ts';
