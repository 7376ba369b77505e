export * from './events.ts';
export * from './requests.ts';
