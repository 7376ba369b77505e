import { randomUUID } from 'node:crypto';
import type { TestFn } from 'ava';
import { profileStreamId } from '@lectern/schemas/profile/events';
import { notificationRequestStreamId } from '@lectern/schemas/notifications/sends';
import { subscriptionsStreamId } from '@lectern/schemas/notifications/subscriptions';
import { userStreamId } from '@lectern/schemas/identity/events';
import { mailpit } from '@lectern/infra/testing/mailpit';
import { jsonClient, problem, type Reply } from './http-client.ts';
import { notifyClient } from './notify-client.ts';
import { sharedLectern, type ProfileSetup } from './testing.ts';

/**
 * `POST /api/notify/preview` and `/send` at their edges, over HTTP: a bare
 * address, a push over its limits, a missing variable, and the recipient's
 * language, each read back from what the provider received (the
 * development mailbox embedded, mailpit over SMTP on the engines).
 */
export const notifySendFlow = (test: TestFn, name: string, setup: ProfileSetup) => {
  const lectern = sharedLectern(test, setup);
  const http = jsonClient(async () => (await lectern()).url);
  const box = name.includes('mailpit') ? mailpit(process.env.MAILPIT_URL!) : null;
  const { tokenFor, templatesTo, delivered, decisions, register, projected, oneClick, unsubscribeLinkOf } =
    notifyClient(http, box);
  const unique = () => randomUUID().slice(0, 8);
  const announcement = (title = `News ${unique()}`) => ({
    title,
    message: 'Twelve courses start in March.',
    url: 'https://app.example/news',
  });
  const paths = (r: Reply) => ((r.body?.errors ?? []) as { path: string }[]).map((e) => e.path).sort();

  test.serial(`${name}: a bare e-mail address gets the e-mail alone; other channels are a 400`, async (t) => {
    const admin = await tokenFor(randomUUID(), ['admin']);
    const email = `bare-${unique()}@example.org`;
    const send = (body: Record<string, unknown>) =>
      http('POST', '/api/notify/send', {
        token: admin,
        body: { template: 'announcement', variables: announcement(), ...body },
      });

    // 1. Asked for a channel the address cannot take: refused with a pointer per channel, nothing asked of the worker.
    const push = await send({ recipient: { email }, channels: ['push'] });
    problem(t, push, 400, 'channel_not_for_recipient');
    t.deepEqual(paths(push), ['/channels/0']);
    const mixed = await send({ recipient: { email }, channels: ['email', 'sms'] });
    problem(t, mixed, 400, 'channel_not_for_recipient');
    t.deepEqual(paths(mixed), ['/channels/1']);
    problem(
      t,
      await send({ recipient: { phone: '+4915112345678' }, channels: ['email'] }),
      400,
      'channel_not_for_recipient',
    );
    // The announcement has no SMS at all: a phone is not a recipient of it.
    problem(t, await send({ recipient: { phone: '+4915112345678' } }), 400, 'channel_not_in_template');

    // 2. Without channels: e-mail only (the template has push too), to that address alone.
    const variables = announcement();
    const sent = await send({ recipient: { email }, variables });
    t.is(sent.status, 202, JSON.stringify(sent.body));
    t.deepEqual(sent.body?.channels, ['email']);
    const [requested] = await (
      await lectern()
    ).store.readStream(notificationRequestStreamId(sent.body!.requestId as string));
    t.like(requested?.data, { recipient: { email }, channels: ['email'] });
    const m = await delivered(email, 'announcement');
    t.is(m.subject, variables.title);
    t.true(m.text.includes(variables.message));
    t.deepEqual(await templatesTo(email, 1), ['announcement'], 'the refused requests sent nothing');
    // No user, so no one-click link: nobody's e-mail can be switched off from this message.
    t.false(m.text.includes('unsubscribe#token='), m.text);
    if (m.headers) t.is(m.headers['List-Unsubscribe'], undefined);
  });

  test.serial(
    `${name}: a push over its limits is a 400 at preview and at send, and never sent`,
    async (t) => {
      const admin = await tokenFor(randomUUID(), ['admin']);
      const email = `push-${unique()}@example.org`;
      const userId = await register(email, '203.0.113.21');
      // A push title holds 100 characters; an e-mail subject and a text variable, 200.
      const long = announcement(`${'Long '.repeat(24)}${unique()}`);

      const preview = await http('POST', '/api/notify/preview', {
        token: admin,
        body: { template: 'announcement', variables: long },
      });
      problem(t, preview, 400, 'push_too_long');
      t.deepEqual(paths(preview), ['/variables/title']);
      const [detail] = (preview.body?.errors ?? []) as { message?: string; detail?: string }[];
      t.regex(
        JSON.stringify(detail),
        /push title: renders to 1[0-9]{2} characters; at most 100; the variable title/,
      );
      for (const recipient of [{ userId }, { pushToken: `fcm-${randomUUID()}` }])
        problem(
          t,
          await http('POST', '/api/notify/send', {
            token: admin,
            body: { template: 'announcement', recipient, variables: long },
          }),
          400,
          'push_too_long',
        );
      // E-mail alone has no such limit: the same variables go out by e-mail.
      const email1 = await http('POST', '/api/notify/send', {
        token: admin,
        body: { template: 'announcement', recipient: { userId }, variables: long, channels: ['email'] },
      });
      t.is(email1.status, 202, JSON.stringify(email1.body));
      t.is((await delivered(email, 'announcement')).subject, long.title);
      // The user's log holds that e-mail's decision and no other announcement: no push was tried.
      const log = await decisions(admin, userId, (items) => items.some((d) => d.template === 'announcement'));
      t.deepEqual(
        log.filter((d) => d.template === 'announcement').map((d) => [d.channel, d.decision]),
        [['email', 'sent']],
      );
    },
  );

  test.serial(`${name}: a missing variable is a 400 naming it, at preview and at send`, async (t) => {
    const admin = await tokenFor(randomUUID(), ['admin']);
    const { title, message } = announcement();
    const preview = await http('POST', '/api/notify/preview', {
      token: admin,
      body: { template: 'announcement', variables: { title, message } },
    });
    problem(t, preview, 400, 'template_variable_missing');
    t.deepEqual(paths(preview), ['/variables/url']);
    const send = await http('POST', '/api/notify/send', {
      token: admin,
      body: {
        template: 'announcement',
        recipient: { email: `missing-${unique()}@example.org` },
        variables: { title, message },
      },
    });
    problem(t, send, 400, 'template_variable_missing');
    t.deepEqual(paths(send), ['/variables/url']);
    // Missing and unknown at once: one code for the lot, a pointer for each.
    const both = await http('POST', '/api/notify/preview', {
      token: admin,
      body: { template: 'announcement', variables: { title, mesage: message } },
    });
    problem(t, both, 400, 'template_variables_invalid');
    t.deepEqual(paths(both), ['/variables/mesage', '/variables/message', '/variables/url']);
    // What the worker fills in is not the sender's to give.
    const system = await http('POST', '/api/notify/preview', {
      token: admin,
      body: {
        template: 'announcement',
        variables: { ...announcement(), unsubscribeUrl: 'https://evil.example/' },
      },
    });
    problem(t, system, 400, 'validation_failed');
    t.deepEqual(paths(system), ['/variables/unsubscribeUrl']);
  });

  test.serial(
    `${name}: a send to a bare address honours its owner's opt-outs, by the settings or the one-click link; security mail goes all the same`,
    async (t) => {
      const admin = await tokenFor(randomUUID(), ['admin']);
      const lectern$ = await lectern();
      const owner = async (tag: string, ip: string) => {
        const email = `${tag}-${unique()}@example.org`;
        const userId = await register(email, ip);
        t.true(
          await projected(
            lectern$,
            'notification_recipients',
            userStreamId(userId),
            'identity.UserRegistered',
          ),
        );
        return { email, userId };
      };
      /** Once the user's choice is in the read model the worker consults. */
      const chosen = async (userId: string) =>
        t.true(await projected(lectern$, 'notification_subscriptions', subscriptionsStreamId(userId)));
      const bare = (email: string, template = 'announcement', variables: object = announcement()) =>
        http('POST', '/api/notify/send', {
          token: admin,
          body: { template, recipient: { email }, variables },
        });
      const announcements = async (userId: string, count: number) =>
        (
          await decisions(
            admin,
            userId,
            (items) => items.filter((d) => d.template === 'announcement').length >= count,
          )
        )
          .filter((d) => d.template === 'announcement')
          .map((d) => [d.channel, d.decision, d.reason])
          .reverse();

      // 1. E-mail turned off in the settings: an announcement to the bare address is suppressed, in the owner's log.
      const settings = await owner('bare-settings', '203.0.113.41');
      const off = await http('PUT', '/api/subscriptions/channels', {
        token: await tokenFor(settings.userId, ['learner']),
        body: { email: false },
      });
      t.is(off.status, 200, JSON.stringify(off.body));
      await chosen(settings.userId);
      t.is((await bare(settings.email)).status, 202);
      t.deepEqual(await announcements(settings.userId, 1), [
        ['email', 'suppressed', 'the user turned email off'],
      ]);
      // A security message cannot be refused: a password reset to the same address goes.
      const reset = await bare(settings.email, 'reset-password', {
        link: 'https://app.example/reset-password#token=example',
        expiresInMinutes: 15,
      });
      t.is(reset.status, 202, JSON.stringify(reset.body));
      await delivered(settings.email, 'reset-password');
      t.false(
        (await templatesTo(settings.email, 1)).includes('announcement'),
        'the suppressed announcement never reached the provider',
      );

      // 2. Unsubscribed through the one-click link of a message to the user: a later one to the address is suppressed.
      const linked = await owner('bare-link', '203.0.113.42');
      const toUser = await http('POST', '/api/notify/send', {
        token: admin,
        body: {
          template: 'announcement',
          recipient: { userId: linked.userId },
          variables: announcement(),
          channels: ['email'],
        },
      });
      t.is(toUser.status, 202, JSON.stringify(toUser.body));
      const clicked = await oneClick(unsubscribeLinkOf(await delivered(linked.email, 'announcement')));
      t.is(clicked.status, 200, JSON.stringify(clicked.body));
      await chosen(linked.userId);
      t.is((await bare(linked.email)).status, 202);
      t.deepEqual(await announcements(linked.userId, 2), [
        ['email', 'sent', null],
        ['email', 'suppressed', 'the user turned email off'],
      ]);
      t.deepEqual(
        (await templatesTo(linked.email, 1)).filter((m) => m === 'announcement'),
        ['announcement'],
        'one announcement: the one before the click',
      );
    },
  );

  test.serial(
    `${name}: a preview renders the channels asked for, and refuses one the template lacks`,
    async (t) => {
      const admin = await tokenFor(randomUUID(), ['admin']);
      const preview = (template: string, variables: Record<string, unknown>, channels?: unknown) =>
        http('POST', '/api/notify/preview', {
          token: admin,
          body: { template, variables, ...(channels === undefined ? {} : { channels }) },
        });
      const course = { courseTitle: 'Rust', courseUrl: 'https://app.example/c/1', authorName: 'Ada' };
      // 1. Every channel of the template by default; only those asked for otherwise.
      const all = await preview('course-published', course);
      t.is(all.status, 200, JSON.stringify(all.body));
      t.deepEqual(
        ['email', 'sms', 'push'].filter((c) => all.body?.[c] !== undefined),
        ['email', 'sms', 'push'],
      );
      const sms = await preview('course-published', course, ['sms', 'sms']);
      t.is(sms.status, 200, JSON.stringify(sms.body));
      t.deepEqual(
        ['email', 'sms', 'push'].filter((c) => sms.body?.[c] !== undefined),
        ['sms'],
      );
      t.regex(String((sms.body?.sms as { text?: string } | undefined)?.text), /Rust by Ada/);
      // 2. A channel the template lacks: its own code, a pointer to each such channel.
      const lacking = await preview('announcement', announcement(), ['email', 'sms']);
      problem(t, lacking, 400, 'channel_not_in_template');
      t.deepEqual(paths(lacking), ['/channels/1']);
      // 3. Not a channel at all, or none: the request's shape.
      for (const channels of [['fax'], []]) {
        const bad = await preview('announcement', announcement(), channels);
        problem(t, bad, 400, 'validation_failed');
        t.deepEqual(paths(bad), [channels.length ? '/channels/0' : '/channels']);
      }
      // 4. Too long on a channel not asked for is no problem: the push's title limit, e-mail alone.
      const long = announcement('T'.repeat(150));
      problem(t, await preview('announcement', long), 400, 'push_too_long');
      t.is((await preview('announcement', long, ['email'])).status, 200);
    },
  );

  test.serial(
    `${name}: the profile's locale picks the translation; one without falls back to English`,
    async (t) => {
      const admin = await tokenFor(randomUUID(), ['admin']);
      const lectern$ = await lectern();
      /** A user whose profile names `locale`, once the notifications' recipients model has it. */
      const speaker = async (locale: string, ip: string) => {
        const email = `${locale}-${unique()}@example.org`;
        const userId = await register(email, ip);
        const put = await http('PUT', '/api/profile', {
          token: await tokenFor(userId, ['learner']),
          body: { locale },
        });
        t.is(put.status, 200, JSON.stringify(put.body));
        t.true(
          await projected(lectern$, 'notification_recipients', profileStreamId(userId)),
          'the recipients model took the locale',
        );
        return { email, userId };
      };
      const german = await speaker('de', '203.0.113.22');
      const french = await speaker('fr', '203.0.113.23');
      const course = { courseTitle: `Ereignisse ${unique()}`, authorName: 'Ada Lovelace' };
      for (const { userId } of [german, french]) {
        const r = await http('POST', '/api/notify/send', {
          token: admin,
          body: {
            template: 'course-published',
            recipient: { userId },
            channels: ['email'],
            variables: { ...course, courseUrl: 'https://app.example/courses/1' },
          },
        });
        t.is(r.status, 202, JSON.stringify(r.body));
      }
      const de = await delivered(german.email, 'course-published');
      t.is(de.subject, `Neu auf Lectern: ${course.courseTitle}`);
      t.true(de.text.includes('hat „'), de.text);
      t.true(de.text.includes('Abbestellen:'), de.text);
      // Lectern has no French course-published: English, not a blank and not a refusal.
      const fr = await delivered(french.email, 'course-published');
      t.is(fr.subject, `New on Lectern: ${course.courseTitle}`);
      t.true(fr.text.includes('Unsubscribe:'), fr.text);
      // A preview names the translation a tag falls back to.
      const preview = await http('POST', '/api/notify/preview', {
        token: admin,
        body: {
          template: 'course-published',
          locale: 'de-AT',
          variables: { ...course, courseUrl: 'https://app.example/courses/1' },
        },
      });
      t.is(preview.status, 200, JSON.stringify(preview.body));
      t.is(preview.body?.locale, 'de');
    },
  );
};
