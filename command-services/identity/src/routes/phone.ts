import { Router } from 'express';
import { identity as schema } from '@lectern/schemas';
import { jsonBody } from '@lectern/infra/http/app';
import { setCommandHeaders } from '@lectern/infra/http/headers';
import { Problem } from '@lectern/infra/runtime/errors';
import { derivedDigits } from '@lectern/infra/auth/message-secrets';
import { codeHash, randomToken, verifyCode } from '@lectern/infra/auth/secrets';
import { userDecider } from '../domain/user.ts';
import { phoneDecider } from '../domain/phone.ts';
import { policy } from '../domain/policy.ts';
import { ipLimits } from '../limits.ts';
import { ip, phoneId, validated, type IdentityCommandDeps, type IdentityKit } from './shared.ts';

/** Change of phone: a code texted to the new number, then the code back; the old number is released. */
export const phoneRoutes = (deps: IdentityCommandDeps, kit: IdentityKit): Router => {
  const router = Router();
  const { auth, now, run, load, loadUser, limit } = kit;

  router.post('/api/identity/phone', auth, async (req, res) => {
    const body = validated(schema.phoneCodeRequest(jsonBody(req)));
    await limit(`phone-code:${ip(req)}`, ipLimits.phoneCodes, 'phone codes');
    const userId = req.ctx.actor!.userId!;
    const codeId = deps.ids.uuid();
    const code = derivedDigits(deps.messageKeys.derive('phone-code', [body.phone, codeId]));
    const salt = randomToken(16);
    const outcome = await run(req, schema.phoneStreamId(phoneId(body.phone)), phoneDecider, {
      type: 'SendCode',
      phone: body.phone,
      userId,
      codeId,
      codeHash: await codeHash(code, salt),
      codeSalt: salt,
      at: now(),
    });
    const sent = outcome.events.find((e) => e.type === 'identity.PhoneCodeSent')?.data;
    res.status(202).json({ status: 'code_sent', phone: body.phone, expiresAt: sent?.expiresAt ?? null });
  });

  router.post('/api/identity/phone/verify', auth, async (req, res) => {
    const body = validated(schema.phoneVerifyRequest(jsonBody(req)));
    const userId = req.ctx.actor!.userId!;
    const streamId = schema.phoneStreamId(phoneId(body.phone));
    const phone = await load(streamId, phoneDecider);
    const current = phone.code;
    const matched =
      current &&
      current.userId === userId &&
      (await verifyCode(body.code, current.codeSalt, current.codeHash))
        ? current.codeId
        : null;
    const outcome = await run(req, streamId, phoneDecider, {
      type: 'VerifyCode',
      userId,
      matchedCodeId: matched,
      at: now(),
    });
    if (outcome.events.some((e) => e.type === 'identity.PhoneLocked'))
      throw new Problem('locked', 'phone_locked', 'Too many wrong codes: this phone is locked for an hour.', {
        retryAfterSeconds: Math.round(policy.phoneLock / 1000),
      });
    const failed = outcome.events.find((e) => e.type === 'identity.PhoneCodeFailed');
    if (failed)
      throw new Problem('validation', 'phone_code_wrong', 'The code is wrong.', {
        extra: { attemptsLeft: policy.phoneMaxAttempts - failed.data.attempts },
      });
    // Verified: the user's phone changes and the old number is released.
    const user = await loadUser(userId);
    const changed = await run(
      req,
      schema.userStreamId(userId),
      userDecider,
      { type: 'ChangePhone', phone: body.phone, at: now() },
      { step: 'user' },
    );
    if (user.status === 'active' && user.phone && user.phone !== body.phone)
      await run(
        req,
        schema.phoneStreamId(phoneId(user.phone)),
        phoneDecider,
        { type: 'Release', userId, at: now() },
        { step: 'release' },
      );
    setCommandHeaders(res, changed.revision, changed.position);
    res.json({ userId, phone: body.phone, verified: true });
  });

  return router;
};
