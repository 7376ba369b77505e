export * from './dev-routes.ts';
export * from './admin-routes.ts';
export * from './subscription-routes.ts';
export * from './realtime.ts';
