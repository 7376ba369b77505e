export * from './deliveries.ts';
export * from './identity-messages.ts';
export * from './reaction.ts';
export * from './decisions.ts';
export * from './requested-messages.ts';
export * from './pace.ts';
export * from './pipeline.ts';
export * from './fanout.ts';
