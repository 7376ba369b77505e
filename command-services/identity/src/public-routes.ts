import { Router } from 'express';
import { identity as schema } from '@lectern/schemas';
import type { KeyRing } from '@lectern/infra/auth/key-ring';
import { jsonBody } from '@lectern/infra/http/app';
import { validationProblem } from '@lectern/infra/runtime/errors';

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
 * DEVELOPMENT ONLY, never mounted with NODE_ENV=production: `POST
 * /api/dev/token` mints an access token for any user and roles, for the
 * CLI's `dev-token` and for trying admin routes locally. (The development
 * mailbox, `GET /api/dev/outbox`, is the notifications context's.)
 */
export const devRoutes = (deps: {
  signAccessToken: (claims: {
    sub: string;
    roles: readonly string[];
  }) => Promise<{ token: string; expiresAt: string }>;
}): Router => {
  const router = Router();
  router.post('/api/dev/token', async (req, res) => {
    // The validator the document describes the body with: what it says is what is taken.
    const body = schema.devTokenRequest(jsonBody(req));
    if (!body.ok) throw validationProblem(body.issues);
    res.setHeader('X-Development-Only', 'true');
    res.json(await deps.signAccessToken({ sub: body.value.sub, roles: body.value.roles ?? ['learner'] }));
  });
  return router;
};
