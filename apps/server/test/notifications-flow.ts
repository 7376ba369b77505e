import { randomUUID } from 'node:crypto';
import type { TestFn } from 'ava';
import { mailpit } from '@lectern/infra/testing/mailpit';
import { jsonClient, problem } from './http-client.ts';
import { notifyClient } from './notify-client.ts';
import { sharedLectern, type ProfileSetup } from './testing.ts';

/**
 * Notifications end to end over HTTP: identity's events reach the
 * notifications worker through the log (the SQL log embedded, Kafka on the
 * engines) and its messages reach the profile's e-mail provider: the
 * development mailbox embedded, mailpit over SMTP on the engines.
 */
export const notificationsFlow = (test: TestFn, name: string, setup: ProfileSetup) => {
  const lectern = sharedLectern(test, setup);
  const http = jsonClient(async () => (await lectern()).url);
  const overSmtp = name.includes('mailpit');
  const box = overSmtp ? mailpit(process.env.MAILPIT_URL!) : null;
  const { dev, tokenFor, templatesTo, delivered, unsubscribeLinkOf, oneClick, decisions } = notifyClient(
    http,
    box,
  );

  test.serial(
    `${name}: registering puts exactly one welcome and one verification e-mail in the mailbox`,
    async (t) => {
      const email = `welcome-${randomUUID().slice(0, 8)}@example.org`;
      const r = await http('POST', '/api/identity/register', {
        body: { email, password: 'correct horse battery staple' },
        headers: { 'x-forwarded-for': '203.0.113.7' },
      });
      t.is(r.status, 201);
      t.deepEqual(await templatesTo(email, 2), ['verify-email', 'welcome']);
      // The verification link works: what the worker derived is what identity hashed.
      if (box) {
        const [m] = await box.waitFor(`to:"${email}" subject:"Confirm"`);
        const token = /#token=([A-Za-z0-9._-]+)/.exec((await box.message(m!.ID)).Text)?.[1];
        t.is((await http('POST', '/api/identity/verify-email', { body: { token } })).status, 200);
      } else {
        const { token } = await dev.waitFor(email, 'verify-email');
        t.is((await http('POST', '/api/identity/verify-email', { body: { token } })).status, 200);
      }
    },
  );

  test.serial(
    `${name}: an admin previews and sends; the user unsubscribes in one click; the log says why`,
    async (t) => {
      const admin = await tokenFor(randomUUID(), ['admin']);
      const email = `send-${randomUUID().slice(0, 8)}@example.org`;
      const reg = await http('POST', '/api/identity/register', {
        body: { email, password: 'correct horse battery staple' },
        headers: { 'x-forwarded-for': '203.0.113.8' },
      });
      const userId = reg.body!.userId as string;
      await templatesTo(email, 2);
      const variables = {
        title: 'Spring courses',
        message: 'Twelve start in March.',
        url: 'https://app.example/spring',
      };

      // 1. Preview renders each channel and sends nothing; what cannot be rendered is refused with pointers.
      const preview = await http('POST', '/api/notify/preview', {
        token: admin,
        body: { template: 'announcement', variables },
      });
      t.is(preview.status, 200, JSON.stringify(preview.body));
      t.is(preview.body?.email?.subject, 'Spring courses');
      t.is(preview.body?.push?.title, 'Spring courses');
      const missing = await http('POST', '/api/notify/send', {
        token: admin,
        body: { template: 'announcement', recipient: { userId }, variables: { title: 'x' } },
      });
      problem(t, missing, 400, 'template_variable_missing');
      t.deepEqual((missing.body?.errors as { path: string }[]).map((e) => e.path).sort(), [
        '/variables/message',
        '/variables/url',
      ]);
      const learner = await tokenFor(userId, ['learner']);
      problem(t, await http('POST', '/api/notify/send', { token: learner, body: {} }), 403, 'forbidden');

      // 2. Sent, once under one Idempotency-Key.
      const send = () =>
        http('POST', '/api/notify/send', {
          token: admin,
          body: { template: 'announcement', recipient: { userId }, variables, channels: ['email'] },
          headers: { 'idempotency-key': `announce-${userId}` },
        });
      const first = await send();
      t.is(first.status, 202, JSON.stringify(first.body));
      t.is((await send()).body?.requestId, first.body?.requestId);
      t.deepEqual(await templatesTo(email, 3), ['announcement', 'verify-email', 'welcome']);

      // 3. Its unsubscribe link (the footer's; the header's on SMTP) turns e-mail off in one click.
      const m = await delivered(email, 'announcement');
      if (m.headers) t.deepEqual(m.headers['List-Unsubscribe-Post'], ['List-Unsubscribe=One-Click']);
      const off = await oneClick(unsubscribeLinkOf(m));
      t.is(off.status, 200, JSON.stringify(off.body));
      const me = await http('GET', '/api/subscriptions', {
        token: learner,
        headers: { 'x-consistency-token': off.headers.get('x-consistency-token')! },
      });
      t.is(me.body?.channels?.email, false);

      // 4. The next announcement is not sent, and the delivery log says why; security mail still goes.
      const again = await http('POST', '/api/notify/send', {
        token: admin,
        body: { template: 'announcement', recipient: { userId }, variables },
      });
      t.is(again.status, 202);
      // Both of the template's channels were asked for: e-mail is off, and there is no push device.
      const suppressedOn = (items: any[], channel: string) =>
        items.find(
          (d) => d.decision === 'suppressed' && d.template === 'announcement' && d.channel === channel,
        );
      const log = await decisions(
        admin,
        userId,
        (items) => suppressedOn(items, 'email') && suppressedOn(items, 'push'),
      );
      t.like(suppressedOn(log, 'email'), { reason: 'the user turned email off' });
      t.like(suppressedOn(log, 'push'), { reason: 'no push device' });
      t.true(log.some((d) => d.decision === 'sent' && d.template === 'announcement'));
      t.true(log.some((d) => d.decision === 'sent' && d.template === 'verify-email'));
      t.false(
        log.some((d) => d.address.includes(email)),
        'addresses are masked',
      );
      // The log pages with `next`; a cursor it did not issue is refused, never a 500.
      const first2 = await http('GET', `/api/admin/notifications?user=${userId}&limit=2`, { token: admin });
      const rest = await http(
        'GET',
        `/api/admin/notifications?user=${userId}&before=${encodeURIComponent(first2.body!.next)}`,
        { token: admin },
      );
      t.deepEqual(
        [...first2.body!.items, ...rest.body!.items].map((d: any) => d.decisionId),
        log.map((d) => d.decisionId),
      );
      problem(
        t,
        await http('GET', `/api/admin/notifications?user=${userId}&before=`, { token: admin }),
        400,
        'invalid_cursor',
      );
      // Security messages go whatever the user chose: verify, then ask for a reset.
      const verifyToken = box
        ? /#token=([A-Za-z0-9._-]+)/.exec(
            (await box.message((await box.waitFor(`to:"${email}" subject:"Confirm"`))[0]!.ID)).Text,
          )?.[1]
        : (await dev.waitFor(email, 'verify-email')).token;
      t.is((await http('POST', '/api/identity/verify-email', { body: { token: verifyToken } })).status, 200);
      t.is(
        (
          await http('POST', '/api/identity/password-reset', {
            body: { email },
            headers: { 'x-forwarded-for': '203.0.113.8' },
          })
        ).status,
        202,
      );
      const after = await templatesTo(email, 4);
      t.deepEqual(after, ['announcement', 'reset-password', 'verify-email', 'welcome']);
    },
  );

  test.serial(`${name}: rebuilding every read model sends nothing`, async (t) => {
    const admin = await tokenFor(randomUUID(), ['admin']);
    const email = `rebuild-${randomUUID().slice(0, 8)}@example.org`;
    const reg = await http('POST', '/api/identity/register', {
      body: { email, password: 'correct horse battery staple' },
      headers: { 'x-forwarded-for': '203.0.113.9' },
    });
    t.is(reg.status, 201);
    const userId = reg.body!.userId as string;
    t.deepEqual(await templatesTo(email, 2), ['verify-email', 'welcome']);
    const sentBoth = (items: any[]) =>
      ['welcome', 'verify-email'].every((m) => items.some((d) => d.template === m && d.decision === 'sent'));
    const before = await decisions(admin, userId, sentBoth);
    t.true(sentBoth(before));

    const list = await http('GET', '/api/admin/projections', { token: admin });
    t.is(list.status, 200);
    const names = (list.body!.items as { name: string; kind: string }[])
      .filter((p) => p.kind === 'sql')
      .map((p) => p.name);
    t.true(names.includes('notification_log'), names.join(', '));
    for (const projection of names) {
      const r = await http('POST', `/api/admin/projections/${projection}/rebuild`, { token: admin });
      t.is(r.status, 200, `${projection}: ${JSON.stringify(r.body)}`);
    }

    // A marker sent after the rebuilds: once it is in, whatever the rebuilds set off would be too.
    const marker = await http('POST', '/api/notify/send', {
      token: admin,
      body: {
        template: 'announcement',
        recipient: { userId },
        channels: ['email'],
        variables: { title: 'Marker', message: 'After the rebuilds.', url: 'https://app.example/m' },
      },
    });
    t.is(marker.status, 202, JSON.stringify(marker.body));
    t.deepEqual(await templatesTo(email, 3), ['announcement', 'verify-email', 'welcome']);
    // The rebuilt delivery log holds the same decisions, and only the marker's besides.
    const after = await decisions(admin, userId, (items) => items.some((d) => d.template === 'announcement'));
    const ids = (items: any[]) =>
      items
        .filter((d) => d.template !== 'announcement')
        .map((d) => d.decisionId as string)
        .sort();
    t.deepEqual(ids(after), ids(before));
  });
};
