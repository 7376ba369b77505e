import { chat as schema } from '@lectern/schemas';
import type { BlobStore } from '@lectern/infra/ports/blob-store';

/** How long a download URL in history is good for; reading history again gives fresh ones. */
export const ATTACHMENT_URL_SECONDS = 5 * 60;

/** An attachment as a message shows it; `url` only where the answer was signed for a member. */
export type AttachmentView = schema.AttachmentRef & Readonly<{ url?: string; urlExpiresAt?: string }>;

/**
 * Messages with a fresh presigned GET on each attachment. Callers have
 * checked the reader is a member of every message's room (history, search
 * and the socket's history are all member-only). The key is derived from
 * the room and the attachment, as the upload's was.
 */
export const withAttachmentUrls = async <
  M extends { roomId: string; attachments: readonly AttachmentView[] },
>(
  blobs: BlobStore,
  messages: readonly M[],
): Promise<M[]> =>
  Promise.all(
    messages.map(async (m) =>
      m.attachments.length === 0
        ? m
        : {
            ...m,
            attachments: await Promise.all(
              m.attachments.map(async (a) => {
                const get = await blobs.presignDownload(schema.attachmentKey(m.roomId, a.attachmentId), {
                  expiresInSeconds: ATTACHMENT_URL_SECONDS,
                });
                return { ...a, url: get.url, urlExpiresAt: get.expiresAt.toISOString() };
              }),
            ),
          },
    ),
  );
