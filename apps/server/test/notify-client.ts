import type { mailpit } from '@lectern/infra/testing/mailpit';
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

  /** The newest message of `template` to `email`, once there is one; throws after a minute without. */
  const delivered = async (email: string, template: string): Promise<Delivered> => {
    if (!box) {
      const m = await dev.waitFor(email, template);
      return { subject: m.subject, text: m.text, headers: null };
    }
    for (const deadline = Date.now() + PATIENCE_MS; ;) {
      for (const m of await box.search(`to:"${email}"`)) {
        const headers = await box.headers(m.ID);
        if (headers['X-Lectern-Template']?.[0] === template)
          return { subject: m.Subject, text: (await box.message(m.ID)).Text, headers };
      }
      if (Date.now() > deadline) throw new Error(`no '${template}' message to ${email} in mailpit`);
      await pause();
    }
  };

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

  return { dev, tokenFor, templatesTo, delivered, decisions, register };
};
