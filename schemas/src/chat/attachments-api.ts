import { commandResponseHeaders, type ApiOperation } from '../openapi.ts';
import { describe, uuid } from '../validation.ts';
import { attachmentRequest, attachmentRequested, attachmentStored } from './attachments.ts';

const roomId = describe(uuid(), { description: "The room's id." });
const attachmentId = describe(uuid(), { description: 'The id `POST …/attachments` answered.' });

/** Chat's attachment routes (command-services/chat/src/attachments.ts). */
export const chatAttachmentApi: readonly ApiOperation[] = [
  {
    method: 'post',
    path: '/api/chat/rooms/:roomId/attachments',
    operationId: 'requestChatAttachment',
    summary: 'Ask to upload a file to a room',
    description:
      'Members only. Answers a presigned PUT of exactly the declared type and size, straight to the storage; ' +
      'then complete it, then send a message naming it. Images (png, jpeg, gif, webp) up to 10 MiB, PDFs up ' +
      'to 20 MiB.',
    tags: ['chat'],
    security: 'bearer',
    params: { roomId },
    body: attachmentRequest,
    responses: {
      201: {
        description: 'Upload the file with `upload`.',
        body: attachmentRequested,
        headers: commandResponseHeaders,
      },
    },
    errors: [
      { status: 403, description: 'You are not a member of this room (`not_a_member`).' },
      { status: 404, description: 'No such room (`room_not_found`).' },
      {
        status: 409,
        description:
          'Retried after the file was stored (`attachment_already_stored`), or after it expired (`attachment_expired`).',
      },
      { status: 413, description: 'Larger than its type takes (`attachment_too_large`, with `maxBytes`).' },
    ],
  },
  {
    method: 'post',
    path: '/api/chat/rooms/:roomId/attachments/:attachmentId/complete',
    operationId: 'completeChatAttachment',
    summary: 'Complete an upload',
    description:
      'The uploader says the file is in: the server checks the stored object (there, the declared size, first ' +
      'bytes of the declared type) and records it; a wrong object is deleted. Completing again answers the same.',
    tags: ['chat'],
    security: 'bearer',
    params: { roomId, attachmentId },
    responses: {
      200: { description: 'The file is stored.', body: attachmentStored, headers: commandResponseHeaders },
    },
    errors: [
      {
        status: 400,
        description:
          'The file is not what was declared (`attachment_type_mismatch`, `attachment_size_mismatch`); it was deleted.',
      },
      { status: 404, description: 'You have no such attachment in this room (`attachment_not_found`).' },
      {
        status: 409,
        description:
          'Nothing was uploaded (`attachment_not_uploaded`), or the attachment was not sent within a day of its ' +
          'request (`attachment_expired`, with `expiredAt`).',
      },
      { status: 413, description: 'Larger than its type takes (`attachment_too_large`); it was deleted.' },
    ],
  },
];
