export * from './envelope.ts';
export * from './validation.ts';
export * from './openapi.ts';
export * from './catalogue.ts';
export * from './time.ts';
export * from './sniff.ts';
export * as profile from './profile/index.ts';
export * as identity from './identity/index.ts';
export * as analytics from './analytics/index.ts';
