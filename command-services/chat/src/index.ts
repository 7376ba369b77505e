export * from './routes.ts';
export * from './domain/room.ts';
export * from './actions.ts';
