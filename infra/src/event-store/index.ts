export { sqlEventStore, eventStoreMigrations } from './sql-store.ts';
export { eventStoreContract } from './contract.ts';
