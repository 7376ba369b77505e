export * from './ledger.ts';
export * from './reaction.ts';
