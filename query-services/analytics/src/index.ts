export * from './reports.ts';
export * from './routes.ts';
