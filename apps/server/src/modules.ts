import { analyticsModule } from '@lectern/analytics-module';
import { chatModule } from '@lectern/chat-module';
import { contentModule } from '@lectern/content-module';
import { identityModule } from '@lectern/identity-module';
import { notificationsModule } from '@lectern/notifications-module';
import { profileModule } from '@lectern/profile-module';
import type { ContextModule } from '@lectern/infra/runtime/context-module';
import type { Config } from './config.ts';

/**
 * The contexts this backend runs, in the order their routes mount. The one
 * list that grows with a context: the composition root, the OpenAPI
 * document and the admin routes all read it.
 */
export const contextModules = (config: Config): readonly ContextModule[] => [
  identityModule({ bootstrapAdmins: config.bootstrapAdmins }),
  profileModule(),
  contentModule(),
  chatModule(),
  notificationsModule({
    appUrl: config.appUrl,
    // Unset, the development default of `./dev start` (what the embedded blob store signs for too).
    apiUrl: config.publicUrl ?? `http://localhost:${config.port}`,
    from: config.notify.from,
    providers: config.notify,
    perSecond: config.notify.perSecond,
  }),
  analyticsModule({
    ingestKeys: config.analyticsIngestKeys,
    contexts: ['profile', 'identity', 'notifications'],
  }),
];
