export * from './ports.ts';
export * from './reaction.ts';
export * from './scheduler.ts';
