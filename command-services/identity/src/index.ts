export * from './routes.ts';
export * from './public-routes.ts';
export { policy } from './domain/policy.ts';
export { ipLimits } from './limits.ts';
