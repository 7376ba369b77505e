export * from './commands.ts';
export * from './routes.ts';
export * from './domain/room.ts';
export * from './actions.ts';
export * from './blocks.ts';
export * from './domain/blocks.ts';
export * from './profanity.ts';
export * from './attachments.ts';
export {
  attachmentDecider,
  checkAttachmentType,
  type Attachment,
  type AttachmentCommand,
} from './domain/attachment.ts';
