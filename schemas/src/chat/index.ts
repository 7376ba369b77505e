export * from './events.ts';
export * from './requests.ts';
export * from './cursor.ts';
export * from './api.ts';
export * from './socket.ts';
export * from './attachments.ts';
