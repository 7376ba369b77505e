import { analyticsModule } from '@lectern/analytics-module';
import { contentModule } from '@lectern/content-module';
import { identityModule } from '@lectern/identity-module';
import { profileModule } from '@lectern/profile-module';
import type { ContextModule } from '@lectern/infra/runtime/context-module';
import type { Config } from './config.ts';

/**
 * The contexts this backend runs, in the order their routes mount. The one
 * list that grows with a context: the composition root, the OpenAPI
 * document and the admin routes all read it.
 */
export const contextModules = (config: Config): readonly ContextModule[] => [
  identityModule({ appUrl: config.appUrl, bootstrapAdmins: config.bootstrapAdmins }),
  profileModule(),
  contentModule(),
  analyticsModule({ ingestKeys: config.analyticsIngestKeys, contexts: ['profile', 'identity'] }),
];
