import { randomUUID } from 'node:crypto';
import type { TestFn } from 'ava';
import { userStreamId } from '@lectern/schemas/identity/events';
import { ch } from '@lectern/infra/analytics/sql';
import { mailpit } from '@lectern/infra/testing/mailpit';
import { waitUntil } from '@lectern/infra/testing/wait';
import { workOf } from '@lectern/infra/runtime/reactor';
import { subscriptionsStreamId } from '@lectern/schemas/notifications/subscriptions';
import { jsonClient, problem } from './http-client.ts';
import { notifyClient } from './notify-client.ts';
import { sharedLectern, type ProfileSetup } from './testing.ts';

/**
 * The one-click unsubscribe link of a real message, end to end: a course's
 * publication reaches its followers, each message's link names the topic it
 * came by, one click turns off that topic alone, and the link cannot be
 * bent to another topic or user. A message of no topic carries a link that
 * turns e-mail off, and security messages go all the same.
 */
export const notifyUnsubscribeFlow = (test: TestFn, name: string, setup: ProfileSetup) => {
  const lectern = sharedLectern(test, setup);
  const http = jsonClient(async () => (await lectern()).url);
  const box = name.includes('mailpit') ? mailpit(process.env.MAILPIT_URL!) : null;
  const n = notifyClient(http, box);
  const unique = () => randomUUID().slice(0, 8);

  test.serial(
    `${name}: a course's unsubscribe link turns off that course only; a bent link is 400; security mail still goes`,
    async (t) => {
      const admin = await n.tokenFor(randomUUID(), ['admin']);
      const author = await n.tokenFor(randomUUID(), ['author']);
      const email = `follower-${unique()}@example.org`;
      const userId = await n.register(email, '203.0.113.31');
      const me = await n.tokenFor(userId, ['learner']);
      // Its address known to the worker before a fan-out looks it up.
      t.true(
        await n.projected(
          await lectern(),
          'notification_recipients',
          userStreamId(userId),
          'identity.UserRegistered',
        ),
      );

      // 1. Two courses in review; the user follows both.
      const course = async (title: string) => {
        const r = await http('POST', '/api/courses', { token: author, body: { title } });
        t.is(r.status, 201, JSON.stringify(r.body));
        const courseId = r.body!.courseId as string;
        t.is((await http('POST', `/api/courses/${courseId}/submit`, { token: author })).status, 200);
        const follow = await http('PUT', `/api/subscriptions/topics/course/${courseId}`, { token: me });
        t.is(follow.status, 200, JSON.stringify(follow.body));
        const read = await http('GET', '/api/subscriptions', {
          token: me,
          headers: { 'x-consistency-token': follow.headers.get('x-consistency-token')! },
        });
        t.is(read.headers.get('x-consistency'), 'caught-up');
        return { courseId, title };
      };
      const one = await course(`One ${unique()}`);
      const two = await course(`Two ${unique()}`);
      const publish = async (courseId: string) =>
        t.is((await http('POST', `/api/courses/${courseId}/publish`, { token: author })).status, 200);

      // 2. The first is published: its message's link names that course.
      await publish(one.courseId);
      const first = await n.delivered(email, 'course-published');
      t.is(first.subject, `New on Lectern: ${one.title}`);
      const link = n.unsubscribeLinkOf(first);
      const token = new URL(link, 'http://x').searchParams.get('token')!;
      const [user, scope, mac] = token.split('.');
      t.is(user, userId);
      t.is(scope, `course:${one.courseId}`);
      // The fan-out records its decisions many to an event; analytics keeps a row per decision.
      const analytics = (await lectern()).analytics!;
      const decided = async () =>
        analytics.query<{ type: string; source: string }>(
          ch`SELECT type, source FROM ${analytics.table('events')}
              WHERE user_id = ${userId} AND type = 'notifications.NotificationSent'`,
        );
      await waitUntil('the decision in analytics', async () => (await decided()).length > 0, 120_000, 200);
      t.like((await decided())[0], { type: 'notifications.NotificationSent', source: 'notifications' });

      // 3. Bent to the other course, to all e-mail, to another user, or cut short: refused, nothing written.
      for (const bent of [
        `${user}.course:${two.courseId}.${mac}`,
        `${user}.all-email.${mac}`,
        `${randomUUID()}.${scope}.${mac}`,
        `${user}.${scope}.${mac!.slice(0, -2)}`,
      ])
        problem(
          t,
          await n.oneClick(`/api/subscriptions/unsubscribe?token=${encodeURIComponent(bent)}`),
          400,
          'unsubscribe_token_invalid',
        );

      // 4. One click: that course is off; the other course and e-mail stay on.
      const off = await n.oneClick(link);
      t.is(off.status, 200, JSON.stringify(off.body));
      t.deepEqual(off.body, { status: 'unsubscribed', scope: `course:${one.courseId}` });
      const after = await http('GET', '/api/subscriptions', {
        token: me,
        headers: { 'x-consistency-token': off.headers.get('x-consistency-token')! },
      });
      t.like(after.body, {
        channels: { email: true, sms: true, push: true },
        topics: [{ kind: 'course', id: two.courseId }],
      });
      await publish(two.courseId);
      t.is((await n.delivered(email, 'course-published', 2)).subject, `New on Lectern: ${two.title}`);

      // 5. A message of no topic (an announcement) carries a link that turns e-mail off…
      const sent = await http('POST', '/api/notify/send', {
        token: admin,
        body: {
          template: 'announcement',
          recipient: { userId },
          channels: ['email'],
          variables: { title: `News ${unique()}`, message: 'Read on.', url: 'https://app.example/news' },
        },
      });
      t.is(sent.status, 202, JSON.stringify(sent.body));
      const all = await n.oneClick(n.unsubscribeLinkOf(await n.delivered(email, 'announcement')));
      t.deepEqual(all.body, { status: 'unsubscribed', scope: 'all-email' });

      // 6. …and a security message still goes: the verification, then a password reset.
      const verify = /#token=([A-Za-z0-9._-]+)/.exec((await n.delivered(email, 'verify-email')).text)?.[1];
      t.is((await http('POST', '/api/identity/verify-email', { body: { token: verify } })).status, 200);
      const reset = await http('POST', '/api/identity/password-reset', {
        body: { email },
        headers: { 'x-forwarded-for': '203.0.113.31' },
      });
      t.is(reset.status, 202);
      t.true((await n.delivered(email, 'reset-password')).text.includes('#token='));
    },
  );

  test.serial(
    `${name}: a follower whose address the recipients read model has not applied yet gets the course all the same`,
    async (t) => {
      const lectern$ = await lectern();
      const author = await n.tokenFor(randomUUID(), ['author']);
      // 1. The recipients read model is held back: the registration below is in the store, not in the model.
      const recipients = lectern$.runners.find((r) => r.projection.name === 'notification_recipients')!;
      await recipients.stop();
      try {
        const email = `lagging-${unique()}@example.org`;
        const userId = await n.register(email, '203.0.113.33');
        const me = await n.tokenFor(userId, ['learner']);
        const r = await http('POST', '/api/courses', { token: author, body: { title: `Lag ${unique()}` } });
        t.is(r.status, 201, JSON.stringify(r.body));
        const courseId = r.body!.courseId as string;
        t.is((await http('POST', `/api/courses/${courseId}/submit`, { token: author })).status, 200);
        const follow = await http('PUT', `/api/subscriptions/topics/course/${courseId}`, { token: me });
        t.is(follow.status, 200, JSON.stringify(follow.body));
        t.true(
          await n.projected(lectern$, 'notification_subscriptions', subscriptionsStreamId(userId)),
          'the follower is in the subscriptions model',
        );
        t.is((await http('POST', `/api/courses/${courseId}/publish`, { token: author })).status, 200);
        const published = (await lectern$.store.readStream(`course-${courseId}`)).find(
          (e) => e.type === 'content.CoursePublished',
        )!;
        // 2. The worker tried, found the follower not yet projected, and will try again (no "no address").
        await waitUntil(
          'the fan-out to wait for the recipients model',
          async () =>
            /not yet in the recipients read model/.test(
              (await workOf(lectern$.sql, 'notifications', published.id))?.lastError ?? '',
            ),
          120_000,
          50,
        );
        // 3. The model catches up: the retry sends the course, once.
        await recipients.start();
        t.is((await n.delivered(email, 'course-published')).subject.startsWith('New on Lectern: Lag'), true);
        const admin = await n.tokenFor(randomUUID(), ['admin']);
        const log = await n.decisions(admin, userId, (items) =>
          items.some((d) => d.template === 'course-published'),
        );
        t.deepEqual(
          log.filter((d) => d.template === 'course-published').map((d) => [d.channel, d.decision]),
          [['email', 'sent']],
        );
      } finally {
        if (!recipients.isRunning()) await recipients.start();
      }
    },
  );
};
