export * from './envelope.ts';
export * from './validation.ts';
export * from './catalogue.ts';
export * as profile from './profile/index.ts';
