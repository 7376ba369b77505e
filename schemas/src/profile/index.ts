export * from './fields.ts';
export * from './events.ts';
