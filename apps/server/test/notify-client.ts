import type { mailpit } from '@lectern/infra/testing/mailpit';
import { waitForCheckpoint } from '@lectern/infra/runtime/projection-runner';
import type { Lectern } from '../src/server.ts';
import { devMailbox } from './dev-mailbox.ts';
import type { jsonClient } from './http-client.ts';

type Http = ReturnType<typeof jsonClient>;

/** What reached a provider, as a test reads it: over SMTP its headers too. */
export type Delivered = Readonly<{
  subject: string;
  text: string;
  headers: Readonly<Record<string, readonly string[]>> | null;
}>;

/** Messages arrive after the answer (the worker sends them): how long a test waits for one. */
const PATIENCE_MS = 60_000;

const pause = () => new Promise((resolve) => setTimeout(resolve, 25));

/**
 * What the notifications flows share: tokens from the development route,
 * the delivery log read until it holds what a test waits for, and the
 * messages as the profile's e-mail provider received them (the development
 * mailbox embedded, mailpit over SMTP when `box` is given). Every wait is
 * for a condition, bounded.
 */
export const notifyClient = (http: Http, box: ReturnType<typeof mailpit> | null) => {
  const dev = devMailbox(http);

  /** A bearer token for any user and roles, from the development route. */
  const tokenFor = async (sub: string, roles: string[]) => {
    const r = await http('POST', '/api/dev/token', { body: { sub, roles } });
    if (r.status !== 200) throw new Error(`POST /api/dev/token: ${r.status}`);
    return r.body!.token as string;
  };

  /** The templates of the messages to `email` once there are `count`, as the provider received them. */
  const templatesTo = async (email: string, count: number): Promise<string[]> => {
    if (!box) {
      for (const deadline = Date.now() + PATIENCE_MS; ;) {
        const r = await http('GET', `/api/dev/outbox?to=${encodeURIComponent(email)}`);
        const items = (r.body?.items ?? []) as { template: string }[];
        if (items.length >= count || Date.now() > deadline) return items.map((m) => m.template).sort();
        await pause();
      }
    }
    const found = await box.waitFor(`to:"${email}"`, count);
    return (
      await Promise.all(found.map(async (m) => (await box.headers(m.ID))['X-Lectern-Template']?.[0] ?? '?'))
    ).sort();
  };

  /** The newest message of `template` to `email`, once there are `count`; throws after a minute without. */
  const delivered = async (email: string, template: string, count = 1): Promise<Delivered> => {
    if (!box) {
      const m = await dev.waitFor(email, template, count);
      return { subject: m.subject, text: m.text, headers: null };
    }
    for (const deadline = Date.now() + PATIENCE_MS; ;) {
      const found: { created: string; id: string; subject: string; headers: Delivered['headers'] }[] = [];
      for (const m of await box.search(`to:"${email}"`)) {
        const headers = await box.headers(m.ID);
        if (headers['X-Lectern-Template']?.[0] === template)
          found.push({ created: m.Created, id: m.ID, subject: m.Subject, headers });
      }
      if (found.length >= count) {
        const newest = found.sort((a, b) => b.created.localeCompare(a.created))[0]!;
        return {
          subject: newest.subject,
          text: (await box.message(newest.id)).Text,
          headers: newest.headers,
        };
      }
      if (Date.now() > deadline) throw new Error(`no ${count}. '${template}' message to ${email} in mailpit`);
      await pause();
    }
  };

  /**
   * A message's one-click unsubscribe link, as a path of the API: over
   * SMTP its `List-Unsubscribe` header (RFC 8058), in the development
   * mailbox the footer's link to the web app, whose token it carries.
   */
  const unsubscribeLinkOf = (m: Delivered): string => {
    if (m.headers) {
      const link = /<([^>]+)>/.exec(m.headers['List-Unsubscribe']?.[0] ?? '')?.[1];
      if (!link) throw new Error('the message has no List-Unsubscribe header');
      return link.slice(link.indexOf('/api/'));
    }
    const token = /unsubscribe#token=([^\s]+)/.exec(m.text)?.[1];
    if (!token) throw new Error(`the message has no unsubscribe link: ${m.text}`);
    return `/api/subscriptions/unsubscribe?token=${encodeURIComponent(token)}`;
  };

  /** Posts a link as a mail client does (RFC 8058): the one-click form body. */
  const oneClick = (path: string) =>
    http('POST', path, {
      raw: 'List-Unsubscribe=One-Click',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });

  /** The user's decisions in the delivery log once `done` holds for them (bounded). */
  const decisions = async (admin: string, userId: string, done: (items: any[]) => boolean) => {
    for (const deadline = Date.now() + PATIENCE_MS; ;) {
      const r = await http('GET', `/api/admin/notifications?user=${userId}`, { token: admin });
      if (r.status !== 200)
        throw new Error(`GET /api/admin/notifications: ${r.status} ${JSON.stringify(r.body)}`);
      const items = r.body!.items as any[];
      if (done(items) || Date.now() > deadline) return items;
      await pause();
    }
  };

  /** A newly registered user (from an address of the documentation range, so the rate limit is the test's own). */
  const register = async (email: string, ip: string): Promise<string> => {
    const r = await http('POST', '/api/identity/register', {
      body: { email, password: 'correct horse battery staple' },
      headers: { 'x-forwarded-for': ip },
    });
    if (r.status !== 201)
      throw new Error(`POST /api/identity/register: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body!.userId as string;
  };

  /**
   * Once `projection` has applied the newest event of `streamId` now in the
   * store, of `type` when given (a projection checkpoints only the events it
   * takes): read your writes, bounded.
   */
  const projected = async (
    lectern: Lectern,
    projection: string,
    streamId: string,
    type?: string,
  ): Promise<boolean> => {
    const events = (await lectern.store.readStream(streamId)).filter((e) => !type || e.type === type);
    const position = events[events.length - 1]?.position;
    if (position === undefined) throw new Error(`${streamId} has no ${type ?? ''} events`);
    return waitForCheckpoint(lectern.sql, projection, streamId, position, PATIENCE_MS);
  };

  return {
    dev,
    tokenFor,
    templatesTo,
    delivered,
    unsubscribeLinkOf,
    oneClick,
    decisions,
    register,
    projected,
  };
};
