import { Router } from 'express';
import { identity as schema } from '@lectern/schemas';
import type { KeyRing } from '@lectern/infra/auth/key-ring';
import { jsonBody } from '@lectern/infra/http/app';
import { validationProblem } from '@lectern/infra/runtime/errors';
import type { DevOutbox } from './outbox.ts';

/** `GET /.well-known/jwks.json`: the public keys every service verifies access tokens with. */
export const jwksRoutes = (keyRing: KeyRing): Router => {
  const router = Router();
  router.get('/.well-known/jwks.json', async (_req, res) => {
    // Short: a rotation must reach verifiers well within the overlap.
    res.setHeader('Cache-Control', 'public, max-age=60');
    res.json(await keyRing.jwks());
  });
  return router;
};

/**
 * DEVELOPMENT ONLY, never mounted with NODE_ENV=production:
 * - `GET /api/dev/outbox?to=` shows the e-mails and texts identity would have
 *   sent, with their links and codes, until the notifications worker exists;
 * - `POST /api/dev/token` mints an access token for any user and roles, for
 *   the CLI's `dev-token` and for trying admin routes locally.
 */
export const devRoutes = (deps: {
  outbox: DevOutbox;
  signAccessToken: (claims: {
    sub: string;
    roles: readonly string[];
  }) => Promise<{ token: string; expiresAt: string }>;
}): Router => {
  const router = Router();
  router.get('/api/dev/outbox', async (req, res) => {
    const to = typeof req.query.to === 'string' ? req.query.to.trim() : '';
    const email = schema.emailAddress(to, '/to');
    const phone = schema.phoneNumber(to, '/to');
    if (!email.ok && !phone.ok)
      throw validationProblem([
        { path: '/to', message: 'must be an e-mail address or an E.164 phone number' },
      ]);
    res.setHeader('X-Development-Only', 'true');
    res.json({ items: await deps.outbox.list(email.ok ? to.toLowerCase() : to) });
  });
  router.post('/api/dev/token', async (req, res) => {
    // The validator the document describes the body with: what it says is what is taken.
    const body = schema.devTokenRequest(jsonBody(req));
    if (!body.ok) throw validationProblem(body.issues);
    res.setHeader('X-Development-Only', 'true');
    res.json(await deps.signAccessToken({ sub: body.value.sub, roles: body.value.roles ?? ['learner'] }));
  });
  return router;
};
