export * from './routes.ts';
export * from './realtime.ts';
