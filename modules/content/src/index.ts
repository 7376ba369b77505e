import { contentCommandRoutes, transcodeLedger } from '@lectern/content-commands';
import { observeTranscodes, TRANSCODING_RETRIES, transcodingReaction } from '@lectern/transcoding-worker';
import { contentQueryRoutes } from '@lectern/content-queries';
import { courseChannel } from '@lectern/content-queries/realtime';
import { courseCatalogueProjection } from '@lectern/content-projection-catalogue';
import { contentApi, contentTags } from '@lectern/schemas/content/api';
import type { ContextModule } from '@lectern/infra/runtime/context-module';
import { reactorWorker } from '@lectern/infra/runtime/reactor';
import { contentEvents } from '@lectern/schemas/content/events';
import { courseItemFrame } from '@lectern/schemas/content/socket';
import { contentStreams } from './streams.ts';

/**
 * Content: courses with their sections and materials, their review
 * workflow, media assets, and the catalogue; the `transcoding` worker,
 * which makes an uploaded video an HLS ladder; and `course:<id>` on the
 * socket, where its author watches uploads and transcodes progress.
 */
export const contentModule = (): ContextModule => ({
  name: 'content',
  streams: contentStreams,
  projections: [courseCatalogueProjection],
  workers: [
    reactorWorker({
      name: 'transcoding',
      contexts: ['content'],
      // A first try and three retries (issue 11), a second apart and doubling.
      options: TRANSCODING_RETRIES,
      reaction: async (p) => ({
        reaction: transcodingReaction({
          blobs: p.blobs,
          ledger: transcodeLedger({ store: p.store, clock: p.clock }),
          logger: p.logger.child({ worker: 'transcoding' }),
          observe: observeTranscodes(p.metrics),
        }),
      }),
    }),
  ],
  routes: async (p) => [
    contentCommandRoutes({
      store: p.store,
      verify: p.auth.verify,
      blobs: p.blobs,
      clock: p.clock,
      messageKeys: p.messageKeys,
    }),
    contentQueryRoutes({ sql: p.sql, verify: p.auth.verify, waitFor: p.waitFor }),
  ],
  realtime: async (p) => ({ channels: [courseChannel(p.sql)] }),
  asyncApi: {
    context: 'content',
    topics: [
      {
        name: 'content.events',
        description: 'Courses, their review, and media assets.',
        events: contentEvents,
      },
    ],
    socket: {
      items: [
        {
          kind: 'course',
          description:
            'A course: its author and admins see its edits, review comments and media progress; anyone ' +
            'who may read it, where it stands.',
          frame: courseItemFrame,
        },
      ],
    },
  },
  api: [{ name: 'content', operations: contentApi, tags: contentTags }],
});
