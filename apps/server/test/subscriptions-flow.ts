import { randomBytes, randomUUID } from 'node:crypto';
import type { TestFn } from 'ava';
import {
  channelsResult,
  pushDeviceResult,
  subscriptionsDocument,
  topicResult,
  unsubscribeResult,
} from '@lectern/schemas/notifications/subscriptions-api';
import { subscriptionsStreamId, unsubscribeUrl } from '@lectern/schemas/notifications/subscriptions';
import { messageKeys } from '@lectern/infra/auth/message-secrets';
import { unsubscribeToken } from '@lectern/infra/notify/unsubscribe';
import { jsonClient, problem } from './http-client.ts';
import { sharedLectern, type ProfileSetup } from './testing.ts';

/**
 * Notification subscriptions end to end over HTTP: the commands, the read
 * model read back through the consistency token, and the one-click
 * unsubscribe link of e-mails. `key` is the message key the server was
 * configured with (`LECTERN_MESSAGE_KEYS`): links are made with it here as
 * the worker makes them.
 */
export const subscriptionsFlow =
  (key: Buffer) =>
  (test: TestFn, name: string, setup: ProfileSetup): void => {
    const lectern = sharedLectern(test, setup);
    const call = jsonClient(async () => (await lectern()).url);
    const keys = messageKeys([key]);
    /** A fresh user and their bearer token, from the development route. */
    const signIn = async () => {
      const sub = randomUUID();
      const r = await call('POST', '/api/dev/token', { body: { sub } });
      if (r.status !== 200) throw new Error(`POST /api/dev/token: ${r.status} ${JSON.stringify(r.body)}`);
      return { sub, token: r.body!.token as string };
    };
    /** Posts a link as a mail client does (RFC 8058): the one-click form body. */
    const oneClick = async (url: string, body = 'List-Unsubscribe=One-Click') => {
      const path = url.slice(url.indexOf('/api/'));
      return call('POST', path, {
        raw: body,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
    };
    const documented = (v: (input: unknown) => { ok: boolean }, body: unknown) => v(body).ok;
    const course = randomUUID();
    const author = randomUUID();

    test.serial(
      `${name}: defaults, channels, topics and a device are read back through the consistency token`,
      async (t) => {
        const me = await signIn();
        const before = await call('GET', '/api/subscriptions', { token: me.token });
        t.is(before.status, 200);
        t.is(before.headers.get('etag'), '"-1"');
        t.true(documented(subscriptionsDocument, before.body), 'the answer is as documented');
        t.deepEqual(before.body, {
          userId: me.sub,
          channels: { email: true, sms: true, push: true },
          devices: [],
          topics: [],
        });

        const sms = await call('PUT', '/api/subscriptions/channels', {
          token: me.token,
          body: { sms: false },
        });
        t.is(sms.status, 200, JSON.stringify(sms.body));
        t.is(sms.headers.get('etag'), '"0"');
        t.true(documented(channelsResult, sms.body), 'the answer is as documented');
        t.deepEqual(sms.body?.channels, { email: true, sms: false, push: true });
        const again = await call('PUT', '/api/subscriptions/channels', {
          token: me.token,
          body: { sms: false, email: true },
        });
        t.is(again.headers.get('etag'), '"0"', 'nothing changed, nothing was written');

        const follow = await call('PUT', `/api/subscriptions/topics/course/${course}`, { token: me.token });
        t.is(follow.status, 200);
        t.true(documented(topicResult, follow.body), 'the answer is as documented');
        t.like(follow.body, { topic: { kind: 'course', id: course }, subscribed: true, revision: 1 });
        t.is(
          (await call('PUT', `/api/subscriptions/topics/course/${course}`, { token: me.token })).body
            ?.revision,
          1,
          'following again changes nothing',
        );
        t.is(
          (await call('PUT', `/api/subscriptions/topics/author/${author}`, { token: me.token })).status,
          200,
        );

        // Ending in a character outside the BMP: its end is cut by character, never through a surrogate pair.
        const pushToken = `apns-${randomBytes(24).toString('hex')}🎓🎓🎓`;
        const device = await call('POST', '/api/subscriptions/devices', {
          token: me.token,
          body: { token: pushToken, platform: 'ios' },
        });
        t.is(device.status, 201, JSON.stringify(device.body));
        t.true(documented(pushDeviceResult, device.body), 'the answer is as documented');
        const deviceId = device.body?.deviceId as string;
        t.is(device.headers.get('location'), `/api/subscriptions/devices/${deviceId}`);
        const same = await call('POST', '/api/subscriptions/devices', {
          token: me.token,
          body: { token: pushToken, platform: 'ios' },
        });
        t.is(same.status, 200, 'a token registered already is the device it was');
        t.is(same.body?.deviceId, deviceId);

        const read = await call('GET', '/api/subscriptions', {
          token: me.token,
          headers: { 'x-consistency-token': device.headers.get('x-consistency-token')! },
        });
        t.is(read.status, 200);
        t.is(read.headers.get('x-consistency'), 'caught-up');
        t.is(read.headers.get('etag'), device.headers.get('etag'));
        t.true(documented(subscriptionsDocument, read.body), 'the answer is as documented');
        t.deepEqual(read.body, {
          userId: me.sub,
          channels: { email: true, sms: false, push: true },
          devices: [{ deviceId, platform: 'ios', tokenEnd: `${pushToken.slice(-9, -6)}🎓🎓🎓` }],
          topics: [
            { kind: 'author', id: author },
            { kind: 'course', id: course },
          ],
        });
        t.false(JSON.stringify(read.body).includes(pushToken), 'the push token is never shown');

        const unfollow = await call('DELETE', `/api/subscriptions/topics/course/${course}`, {
          token: me.token,
        });
        t.is(unfollow.status, 200);
        t.like(unfollow.body, { subscribed: false });
        const gone = await call('DELETE', `/api/subscriptions/devices/${deviceId}`, { token: me.token });
        t.is(gone.status, 200);
        t.true(documented(pushDeviceResult, gone.body), 'the answer is as documented');
        const after = await call('GET', '/api/subscriptions', {
          token: me.token,
          headers: { 'x-consistency-token': gone.headers.get('x-consistency-token')! },
        });
        t.like(after.body, { devices: [], topics: [{ kind: 'author', id: author }] });
      },
    );

    test.serial(
      `${name}: one-click unsubscribe turns off a topic or e-mail, once, with no access token`,
      async (t) => {
        const me = await signIn();
        await call('PUT', `/api/subscriptions/topics/author/${author}`, { token: me.token });
        const base = (await lectern()).url;

        const topicLink = unsubscribeUrl(base, unsubscribeToken(keys, me.sub, `author:${author}`));
        const off = await oneClick(topicLink);
        t.is(off.status, 200, JSON.stringify(off.body));
        t.true(documented(unsubscribeResult, off.body), 'the answer is as documented');
        t.deepEqual(off.body, { status: 'unsubscribed', scope: `author:${author}` });
        const repeated = await oneClick(topicLink);
        t.is(repeated.status, 200, 'repeating the link is fine');

        // A client that posts nothing, or JSON, is answered the same.
        const emailLink = unsubscribeUrl(base, unsubscribeToken(keys, me.sub, 'all-email'));
        const email = await call('POST', emailLink.slice(emailLink.indexOf('/api/')));
        t.is(email.status, 200, JSON.stringify(email.body));
        t.deepEqual(email.body, { status: 'unsubscribed', scope: 'all-email' });
        t.is((await call('POST', emailLink.slice(emailLink.indexOf('/api/')), { body: {} })).status, 200);

        const read = await call('GET', '/api/subscriptions', {
          token: me.token,
          headers: { 'x-consistency-token': email.headers.get('x-consistency-token')! },
        });
        t.is(read.headers.get('x-consistency'), 'caught-up');
        t.like(read.body, { channels: { email: false, sms: true, push: true }, topics: [] });
        const events = await (await lectern()).store.readStream(subscriptionsStreamId(me.sub));
        t.deepEqual(
          events.map((e) => [e.type, (e.data as { via?: string }).via ?? null]),
          [
            ['notifications.TopicSubscribed', null],
            ['notifications.TopicUnsubscribed', 'link'],
            ['notifications.ChannelsChanged', 'link'],
          ],
          'each link wrote once, saying it was the link',
        );
      },
    );

    test.serial(`${name}: a forged, altered or missing unsubscribe token is 400`, async (t) => {
      const me = await signIn();
      const other = randomUUID();
      const good = unsubscribeToken(keys, me.sub, 'all-email');
      const mac = good.split('.')[2]!;
      const forged = [
        `${other}.all-email.${mac}`,
        `${me.sub}.course:${course}.${mac}`,
        unsubscribeToken(messageKeys([randomBytes(32)]), me.sub, 'all-email'),
        `${me.sub}.all-email`,
        'nonsense',
      ];
      for (const token of forged)
        problem(t, await oneClick(unsubscribeUrl('http://x', token)), 400, 'unsubscribe_token_invalid');
      problem(t, await call('POST', '/api/subscriptions/unsubscribe'), 400, 'unsubscribe_token_invalid');
      // Signed by us but naming no scope we know: refused as well.
      const unknown = unsubscribeToken(keys, me.sub, `lesson:${course}`);
      problem(t, await oneClick(unsubscribeUrl('http://x', unknown)), 400, 'unsubscribe_token_invalid');
      t.deepEqual(await (await lectern()).store.readStream(subscriptionsStreamId(me.sub)), []);
      t.deepEqual(await (await lectern()).store.readStream(subscriptionsStreamId(other)), []);
    });

    test.serial(
      `${name}: bad input, stale revisions, limits and missing tokens get problem+json`,
      async (t) => {
        const me = await signIn();
        const topic = await call('PUT', '/api/subscriptions/topics/lesson/not-a-uuid', { token: me.token });
        problem(t, topic, 400, 'validation_failed');
        t.deepEqual((topic.body?.errors as { path: string }[]).map((e) => e.path).sort(), ['/id', '/kind']);
        const device = await call('DELETE', '/api/subscriptions/devices/nope', { token: me.token });
        problem(t, device, 400, 'validation_failed');
        t.deepEqual(
          (device.body?.errors as { path: string }[]).map((e) => e.path),
          ['/deviceId'],
        );
        const channels = await call('PUT', '/api/subscriptions/channels', {
          token: me.token,
          body: { sms: 'no', fax: true },
        });
        problem(t, channels, 400, 'validation_failed');
        t.deepEqual((channels.body?.errors as { path: string }[]).map((e) => e.path).sort(), [
          '/fax',
          '/sms',
        ]);
        const platform = await call('POST', '/api/subscriptions/devices', {
          token: me.token,
          body: { token: 'x'.repeat(4097), platform: 'blackberry' },
        });
        problem(t, platform, 400, 'validation_failed');

        t.is(
          (await call('PUT', '/api/subscriptions/channels', { token: me.token, body: { push: false } }))
            .status,
          200,
        );
        const stale = await call('PUT', '/api/subscriptions/channels', {
          token: me.token,
          body: { push: true },
          headers: { 'if-match': '"-1"' },
        });
        problem(t, stale, 412, 'revision_mismatch');
        const current = await call('PUT', '/api/subscriptions/channels', {
          token: me.token,
          body: { push: true },
          headers: { 'if-match': '"0"' },
        });
        t.is(current.status, 200);
        t.is(current.headers.get('etag'), '"1"');

        for (let i = 0; i < 10; i++) {
          const r = await call('POST', '/api/subscriptions/devices', {
            token: me.token,
            body: { token: `fcm-${i}-${randomUUID()}`, platform: 'android' },
          });
          t.is(r.status, 201, JSON.stringify(r.body));
        }
        problem(
          t,
          await call('POST', '/api/subscriptions/devices', {
            token: me.token,
            body: { token: `fcm-${randomUUID()}`, platform: 'android' },
          }),
          409,
          'too_many_devices',
        );

        problem(t, await call('GET', '/api/subscriptions'), 401, 'token_missing');
        problem(t, await call('PUT', `/api/subscriptions/topics/course/${course}`), 401, 'token_missing');
      },
    );

    test.serial(
      `${name}: a retry under the same Idempotency-Key registers one device, with one id`,
      async (t) => {
        const me = await signIn();
        const request = {
          token: me.token,
          body: { token: `wp-${randomUUID()}`, platform: 'web' },
          headers: { 'idempotency-key': randomUUID() },
        };
        const first = await call('POST', '/api/subscriptions/devices', request);
        const retry = await call('POST', '/api/subscriptions/devices', request);
        t.is(first.status, 201);
        t.is(retry.status, 201);
        t.is(retry.headers.get('idempotent-replayed'), 'true');
        t.is(retry.body?.deviceId, first.body?.deviceId);
        t.is((await (await lectern()).store.readStream(subscriptionsStreamId(me.sub))).length, 1);
      },
    );
  };
