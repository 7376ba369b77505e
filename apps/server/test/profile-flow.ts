import { randomBytes, randomUUID } from 'node:crypto';
import { profile as schema, topicOf } from '@lectern/schemas';
import type { TestFn } from 'ava';
import { accessTokenIssuer } from '@lectern/infra/auth/tokens';
import { jsonClient } from './http-client.ts';
import { sharedLectern, type ProfileSetup } from './testing.ts';

/**
 * The profile slice end to end over HTTP, against a whole backend started in
 * this process on the given configuration. Registered once per profile
 * (embedded; PostgreSQL + Kafka).
 */
export const profileFlow = (test: TestFn, name: string, setup: ProfileSetup) => {
  const lectern = sharedLectern(test, setup);
  const ctx = async () => ({ lectern: await lectern() });
  const call = jsonClient(async () => (await lectern()).url);
  /** Tokens from identity's own key ring; `expired` ones were issued 2 h ago with identity's 1 h lifetime. */
  const token = async (roles: string[] = ['learner'], sub = randomUUID(), expired = false) => {
    const { lectern } = await ctx();
    if (!expired) return (await lectern.signAccessToken({ sub, roles })).token;
    const past = accessTokenIssuer(lectern.keyRing, {
      ...lectern.tokens,
      ttlSeconds: 3600,
      clock: { now: () => new Date(Date.now() - 2 * 3600_000) },
    });
    return (await past.sign({ sub, roles })).token;
  };
  test.serial(`${name}: a profile update is read back through its consistency token`, async (t) => {
    const me = await token();
    const put = await call('PUT', '/api/profile', {
      token: me,
      body: { displayName: 'Ada Lovelace', locale: 'fr', socialLinks: { github: 'https://github.com/ada' } },
    });
    t.is(put.status, 200);
    t.is(put.headers.get('etag'), '"0"');
    const tokenHeader = put.headers.get('x-consistency-token');
    t.regex(tokenHeader ?? '', /^\d+$/);
    const get = await call('GET', '/api/profile', {
      token: me,
      headers: { 'x-consistency-token': tokenHeader! },
    });
    t.is(get.status, 200);
    t.is(get.headers.get('x-consistency'), 'caught-up');
    t.is(get.headers.get('etag'), '"0"');
    t.like(get.body, {
      displayName: 'Ada Lovelace',
      locale: 'fr',
      visibility: 'members',
      socialLinks: { github: 'https://github.com/ada' },
    });
  });

  test.serial(`${name}: a stale If-Match is 412; the current one succeeds`, async (t) => {
    const me = await token();
    t.is((await call('PUT', '/api/profile', { token: me, body: { bio: 'one' } })).status, 200);
    t.is(
      (await call('PUT', '/api/profile', { token: me, body: { bio: 'two' }, headers: { 'if-match': '"0"' } }))
        .status,
      200,
    );
    const stale = await call('PUT', '/api/profile', {
      token: me,
      body: { bio: 'three' },
      headers: { 'if-match': '"0"' },
    });
    t.is(stale.status, 412);
    t.is(stale.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    t.is(stale.body?.code, 'revision_mismatch');
    const ok = await call('PUT', '/api/profile', {
      token: me,
      body: { bio: 'three' },
      headers: { 'if-match': '"1"' },
    });
    t.is(ok.status, 200);
    t.is(ok.headers.get('etag'), '"2"');
  });

  test.serial(
    `${name}: history records each changed field with old, new, time and actor, paged by cursor`,
    async (t) => {
      const sub = randomUUID();
      const me = await token(['learner'], sub);
      let last = '';
      for (const displayName of ['a', 'b', 'c', 'd', 'e']) {
        const r = await call('PUT', '/api/profile', {
          token: me,
          body: { displayName, timezone: `Europe/Paris` },
        });
        last = r.headers.get('x-consistency-token')!;
      }
      const seen: Record<string, any>[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const q: string = cursor ? `?limit=2&cursor=${cursor}` : '?limit=2';
        const page = await call('GET', `/api/profile/history${q}`, {
          token: me,
          headers: { 'x-consistency-token': last },
        });
        t.is(page.status, 200);
        seen.push(...page.body!.items);
        cursor = page.body!.nextCursor;
        pages++;
      } while (cursor && pages < 10);
      t.is(pages, 3);
      t.deepEqual(
        seen.map((h) => `${h.field}:${h.oldValue}->${h.newValue}`),
        [
          'displayName:d->e',
          'displayName:c->d',
          'displayName:b->c',
          'displayName:a->b',
          'timezone:null->Europe/Paris',
          'displayName:null->a',
        ],
      );
      t.true(seen.every((h) => h.actorId === sub && !Number.isNaN(Date.parse(h.changedAt))));
    },
  );

  test.serial(`${name}: bad input gets problem+json with a stable code`, async (t) => {
    const me = await token();
    const invalid = await call('PUT', '/api/profile', {
      token: me,
      body: {
        displayName: 'x'.repeat(81),
        locale: 'xx',
        favouriteColour: 'blue',
        socialLinks: { github: 'ftp://x' },
      },
    });
    t.is(invalid.status, 400);
    t.is(invalid.body?.code, 'validation_failed');
    t.deepEqual((invalid.body?.errors as { path: string }[]).map((e) => e.path).sort(), [
      '/displayName',
      '/favouriteColour',
      '/locale',
      '/socialLinks/github',
    ]);
    const malformed = await call('PUT', '/api/profile', { token: me, raw: '{"displayName":' });
    t.is(malformed.status, 400);
    t.is(malformed.body?.code, 'malformed_json');
    const huge = await call('PUT', '/api/profile', {
      token: me,
      raw: JSON.stringify({ bio: 'x'.repeat(300_000) }),
    });
    t.is(huge.status, 413);
    t.is(huge.body?.code, 'payload_too_large');
    const badMatch = await call('PUT', '/api/profile', {
      token: me,
      body: { bio: 'x' },
      headers: { 'if-match': 'nonsense' },
    });
    t.is(badMatch.status, 400);
    t.is(badMatch.body?.code, 'invalid_if_match');
    const badToken = await call('GET', '/api/profile', {
      token: me,
      headers: { 'x-consistency-token': 'abc' },
    });
    t.is(badToken.status, 400);
    const noRoute = await call('GET', '/api/nothing-here', { token: me });
    t.is(noRoute.status, 404);
    t.is(noRoute.body?.code, 'route_not_found');
  });

  test.serial(`${name}: tokens are checked: missing, expired, forged`, async (t) => {
    const missing = await call('GET', '/api/profile');
    t.is(missing.status, 401);
    t.is(missing.body?.code, 'token_missing');
    const expired = await call('GET', '/api/profile', {
      token: await token(['learner'], randomUUID(), true),
    });
    t.is(expired.status, 401);
    t.is(expired.body?.code, 'token_expired');
    const good = await token();
    const [h, p, s] = good.split('.');
    const payload = JSON.parse(Buffer.from(p!, 'base64url').toString());
    const tampered = `${h}.${Buffer.from(JSON.stringify({ ...payload, roles: ['admin'] })).toString('base64url')}.${s}`;
    const forged = await call('GET', '/api/admin/experience-levels', { token: tampered });
    t.is(forged.status, 401);
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'at+jwt' })).toString('base64url')}.${p}.`;
    t.is((await call('GET', '/api/profile', { token: none })).status, 401);
  });

  test.serial(`${name}: experience levels: admins only; profiles accept only known levels`, async (t) => {
    const admin = await token(['admin']);
    const learner = await token(['learner']);
    const code = `lvl-${randomUUID().slice(0, 8)}`;
    const denied = await call('POST', '/api/admin/experience-levels', {
      token: learner,
      body: { code, label: 'L', rank: 1 },
    });
    t.is(denied.status, 403);
    t.is(denied.body?.code, 'forbidden');
    t.is((await call('GET', '/api/admin/experience-levels', { token: learner })).status, 403);
    const unknown = await call('PUT', '/api/profile', { token: learner, body: { experienceLevel: code } });
    t.is(unknown.status, 400);
    t.is(unknown.body?.code, 'unknown_experience_level');
    const created = await call('POST', '/api/admin/experience-levels', {
      token: admin,
      body: { code, label: 'Level', rank: 3 },
    });
    t.is(created.status, 201);
    t.is(created.headers.get('location'), `/api/admin/experience-levels/${code}`);
    const again = await call('POST', '/api/admin/experience-levels', {
      token: admin,
      body: { code, label: 'Level', rank: 3 },
    });
    t.is(again.status, 409);
    t.is(again.body?.code, 'experience_level_exists');
    // The level list is a read model: wait (bounded) until it shows the new level.
    let listed = false;
    for (let i = 0; i < 100 && !listed; i++) {
      const list = await call('GET', '/api/experience-levels', { token: learner });
      listed = (list.body?.items as { code: string }[]).some((l) => l.code === code);
      if (!listed) await new Promise((r) => setTimeout(r, 50));
    }
    t.true(listed);
    t.is(
      (await call('PUT', '/api/profile', { token: learner, body: { experienceLevel: code } })).status,
      200,
    );
    const renamed = await call('PATCH', `/api/admin/experience-levels/${code}`, {
      token: admin,
      body: { label: 'Renamed' },
      headers: { 'if-match': '"0"' },
    });
    t.is(renamed.status, 200);
    t.is((await call('DELETE', `/api/admin/experience-levels/${code}`, { token: admin })).status, 200);
    t.is((await call('DELETE', `/api/admin/experience-levels/${code}`, { token: admin })).status, 404);
  });

  test.serial(`${name}: correlation, causation, actor and trace context reach the event`, async (t) => {
    const sub = randomUUID();
    const me = await token(['learner'], sub);
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const put = await call('PUT', '/api/profile', {
      token: me,
      body: { displayName: 'Traced' },
      headers: {
        traceparent: `00-${traceId}-00f067aa0ba902b7-01`,
        'x-correlation-id': 'corr-123',
        'idempotency-key': 'idem-abc',
      },
    });
    t.is(put.status, 200);
    t.is(put.headers.get('x-correlation-id'), 'corr-123');
    const [event] = await (await ctx()).lectern.store.readStream(`profile-${sub}`);
    t.is(event?.metadata.correlationId, 'corr-123');
    t.is(event?.metadata.causationId, 'idem-abc');
    t.deepEqual(event?.metadata.actor, { userId: sub, roles: ['learner'] });
    t.regex(event?.metadata.traceparent ?? '', new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
    // The relay carries the same context into the log's headers.
    const { lectern } = await ctx();
    const headers = await new Promise<Record<string, string>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('event not found on the log in 180 s')), 180_000);
      const consumer = lectern.log.consume({
        groupId: `trace-check-${randomUUID()}`,
        topics: [topicOf('profile', lectern.namespace)],
        handleBatch: async (b) => {
          const m = b.messages.find((x) => x.headers['event-id'] === event?.id);
          if (!m) return;
          clearTimeout(timer);
          resolve({ ...m.headers, key: m.key });
          void consumer.stop();
        },
      });
    });
    t.like(headers, {
      key: `profile-${sub}`,
      'event-type': 'profile.ProfileUpdated',
      'correlation-id': 'corr-123',
      'causation-id': 'idem-abc',
      'actor-id': sub,
      traceparent: event?.metadata.traceparent ?? '',
    });
    // The same idempotency key again is the same command: no second event.
    const retry = await call('PUT', '/api/profile', {
      token: me,
      body: { displayName: 'Traced' },
      headers: { 'idempotency-key': 'idem-abc' },
    });
    t.is(retry.status, 200);
    t.is((await (await ctx()).lectern.store.readStream(`profile-${sub}`)).length, 1);
  });

  const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  type Upload = { method: string; url: string; headers: Record<string, string> };
  const presignAvatar = (me: string, contentType: string, size: number) =>
    call('POST', '/api/profile/avatar/presign', { token: me, body: { contentType, size } });
  /** Sends the bytes straight to the storage, as a browser would: never through the API. */
  const upload = (u: Upload, body: Buffer) => fetch(u.url, { method: u.method, headers: u.headers, body });

  test.serial(
    `${name}: an avatar is uploaded straight to storage, checked at finalize, and shown by a short-lived URL`,
    async (t) => {
      const me = await token();
      const image = Buffer.concat([PNG, randomBytes(4000)]);
      const presign = await presignAvatar(me, 'image/png', image.length);
      t.is(presign.status, 200, JSON.stringify(presign.body));
      t.true(schema.avatarUpload(presign.body).ok, 'the answer is as documented');
      const { avatarId, upload: u } = presign.body as { avatarId: string; upload: Upload };
      t.is((await upload(u, image)).status, 200);

      const done = await call('POST', '/api/profile/avatar', { token: me, body: { avatarId } });
      t.is(done.status, 200, JSON.stringify(done.body));
      t.true(schema.avatarResult(done.body).ok, 'the answer is as documented');
      t.like(done.body, { avatar: { avatarId, contentType: 'image/png', size: image.length } });
      const again = await call('POST', '/api/profile/avatar', { token: me, body: { avatarId } });
      t.is(again.status, 200, 'finalizing again changes nothing');
      t.is(again.body?.revision, done.body?.revision);

      const get = await call('GET', '/api/profile', {
        token: me,
        headers: { 'x-consistency-token': done.headers.get('x-consistency-token')! },
      });
      t.is(get.status, 200);
      t.true(schema.profileDocument(get.body).ok, 'the answer is as documented');
      const url = (get.body as { avatarUrl: string }).avatarUrl;
      t.regex(url, /^https?:\/\//);
      const shown = await fetch(url);
      t.is(shown.status, 200);
      t.deepEqual(Buffer.from(await shown.arrayBuffer()), image);
      const fresh = await call('GET', '/api/profile', { token: await token() });
      t.is((fresh.body as { avatarUrl: unknown }).avatarUrl, null, 'no avatar, no URL');
    },
  );

  test.serial(
    `${name}: avatars: another type, too large, nothing uploaded, or not an image are 4xx`,
    async (t) => {
      const me = await token();
      const gif = await presignAvatar(me, 'image/gif', 100);
      t.is(gif.status, 400);
      t.is(gif.body?.code, 'validation_failed');
      const big = await presignAvatar(me, 'image/png', 5 * 1024 * 1024 + 1);
      t.is(big.status, 413);
      t.is(big.body?.code, 'avatar_too_large');

      const unsent = await presignAvatar(me, 'image/png', 100);
      const { avatarId: unsentId } = unsent.body as { avatarId: string };
      const none = await call('POST', '/api/profile/avatar', { token: me, body: { avatarId: unsentId } });
      t.is(none.status, 409);
      t.is(none.body?.code, 'avatar_not_uploaded');

      // Declared a PNG and sent as one, but the bytes are a GIF: the storage cannot tell, finalize does.
      const fake = Buffer.concat([Buffer.from('GIF89a'), randomBytes(200)]);
      const lie = await presignAvatar(me, 'image/png', fake.length);
      const { avatarId, upload: u } = lie.body as { avatarId: string; upload: Upload };
      t.is((await upload(u, fake)).status, 200);
      const refused = await call('POST', '/api/profile/avatar', { token: me, body: { avatarId } });
      t.is(refused.status, 400);
      t.is(refused.body?.code, 'avatar_not_an_image');
      const { lectern: l } = await ctx();
      const me2 = (await l.signAccessToken({ sub: randomUUID(), roles: ['learner'] })).token;
      // The refused object is gone, and an id is only ever looked for under its caller.
      const other = await call('POST', '/api/profile/avatar', { token: me2, body: { avatarId } });
      t.is(other.status, 409);
      t.is(other.body?.code, 'avatar_not_uploaded');
      const retry = await call('POST', '/api/profile/avatar', { token: me, body: { avatarId } });
      t.is(retry.status, 409, 'the refused upload was deleted');
    },
  );

  test.serial(`${name}: health, readiness and metrics`, async (t) => {
    t.is((await call('GET', '/healthz')).status, 200);
    const ready = await call('GET', '/readyz');
    t.is(ready.status, 200, JSON.stringify(ready.body));
    const { lectern } = await ctx();
    const metrics = await (await fetch(`${lectern.url}/metrics`)).text();
    t.regex(metrics, /lectern_http_request_duration_seconds_bucket/);
    t.regex(metrics, /lectern_projection_applied_events_total\{projection="profiles"\} [1-9]/);
    t.regex(metrics, /lectern_relay_published_events_total [1-9]/);
    t.regex(metrics, /lectern_event_store_append_duration_seconds_count [1-9]/);
  });
};
