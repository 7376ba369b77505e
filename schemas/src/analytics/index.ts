export * from './limits.ts';
export * from './requests.ts';
export * from './api.ts';
export * from './ingest.ts';
