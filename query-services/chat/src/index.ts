export * from './routes.ts';
export * from './realtime.ts';
export * from './attachments.ts';
