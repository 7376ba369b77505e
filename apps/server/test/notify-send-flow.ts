import { randomUUID } from 'node:crypto';
import type { TestFn } from 'ava';
import { notificationRequestStreamId } from '@lectern/schemas/notifications/sends';
import { mailpit } from '@lectern/infra/testing/mailpit';
import { jsonClient, problem, type Reply } from './http-client.ts';
import { notifyClient } from './notify-client.ts';
import { sharedLectern, type ProfileSetup } from './testing.ts';

/**
 * `POST /api/notify/preview` and `/send` at their edges, over HTTP: a bare
 * address, read back from what the provider received (the
 * development mailbox embedded, mailpit over SMTP on the engines).
 */
export const notifySendFlow = (test: TestFn, name: string, setup: ProfileSetup) => {
  const lectern = sharedLectern(test, setup);
  const http = jsonClient(async () => (await lectern()).url);
  const box = name.includes('mailpit') ? mailpit(process.env.MAILPIT_URL!) : null;
  const { tokenFor, templatesTo, delivered } = notifyClient(http, box);
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
};
