export * from './fields.ts';
export * from './events.ts';
export * from './requests.ts';
export * from './api.ts';
