import { contentCommandRoutes } from '@lectern/content-commands';
import { contentQueryRoutes } from '@lectern/content-queries';
import { courseCatalogueProjection } from '@lectern/content-projection-catalogue';
import { contentApi, contentTags } from '@lectern/schemas/content/api';
import type { ContextModule } from '@lectern/infra/runtime/context-module';

/** Content: courses with their sections and materials, their review workflow, media assets, and the catalogue. */
export const contentModule = (): ContextModule => ({
  name: 'content',
  projections: [courseCatalogueProjection],
  routes: async (p) => [
    contentCommandRoutes({ store: p.store, verify: p.auth.verify, blobs: p.blobs, clock: p.clock }),
    contentQueryRoutes({ sql: p.sql, verify: p.auth.verify, waitFor: p.waitFor }),
  ],
  api: [{ name: 'content', operations: contentApi, tags: contentTags }],
});
