export * from './routes.ts';
export * from './domain/room.ts';
