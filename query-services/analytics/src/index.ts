export * from './reports.ts';
export * from './routes.ts';
export * from './pdf-schedule-routes.ts';
