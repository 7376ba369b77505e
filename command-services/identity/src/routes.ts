import { Router } from 'express';
import { adminRoutes } from './routes/admin.ts';
import { emailChangeRoutes } from './routes/email-change.ts';
import { passwordResetRoutes } from './routes/password-reset.ts';
import { phoneRoutes } from './routes/phone.ts';
import { registrationRoutes } from './routes/registration.ts';
import { sessionRoutes } from './routes/sessions.ts';
import { identityKit, type IdentityCommandDeps } from './routes/shared.ts';

export { emailClaimId, phoneId, type IdentityCommandDeps } from './routes/shared.ts';

/**
 * Identity's commands over REST, a router per flow (`routes/`). Each flow is
 * a few appends to small streams (user, email claim, token family, phone),
 * each with the revision it read: uniqueness, rotation and lockouts are
 * decided by the event store, so they hold across processes.
 */
export const identityCommandRoutes = (deps: IdentityCommandDeps): Router => {
  // One kit for every flow: the same `authenticate` and command runner throughout.
  const kit = identityKit(deps);
  return Router().use(
    registrationRoutes(deps, kit),
    sessionRoutes(deps, kit),
    passwordResetRoutes(deps, kit),
    emailChangeRoutes(deps, kit),
    phoneRoutes(deps, kit),
    adminRoutes(deps, kit),
  );
};
