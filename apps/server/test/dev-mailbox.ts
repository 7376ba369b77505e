import type { Reply } from './http-client.ts';

type Http = (method: string, path: string) => Promise<Reply>;

export type MailboxMessage = Readonly<{
  template: string;
  text: string;
  subject: string;
  html: string | null;
  /** The link's token, when the text has one. */
  token: string | undefined;
  /** The six-digit code, when the text has one. */
  code: string | undefined;
}>;

/** Messages reach the mailbox after the answer (the notifications worker sends them): how long a test waits. */
const PATIENCE_MS = 60_000;

/**
 * The development mailbox (`GET /api/dev/outbox`) as tests read it: the
 * notifications worker delivers after the command has answered, so a test
 * waits, bounded, for the message it expects rather than reading once.
 */
export const devMailbox = (http: Http) => {
  const list = async (to: string): Promise<MailboxMessage[]> => {
    const r = await http('GET', `/api/dev/outbox?to=${encodeURIComponent(to)}`);
    if (r.status !== 200) throw new Error(`GET /api/dev/outbox: ${r.status} ${JSON.stringify(r.body)}`);
    return (
      (r.body?.items ?? []) as { template: string; text: string; subject: string; html: string | null }[]
    ).map((m) => ({
      template: m.template,
      text: m.text,
      subject: m.subject,
      html: m.html,
      token: /#token=([A-Za-z0-9._-]+)/.exec(m.text)?.[1],
      code: /\b(\d{6})\b/.exec(m.text)?.[1],
    }));
  };
  return {
    /** The messages of `template` to `to` now, newest first. */
    now: async (to: string, template: string) => (await list(to)).filter((m) => m.template === template),
    /**
     * The newest message of `template` to `to`, once there are at least
     * `count` of them; throws after a minute without.
     */
    async waitFor(to: string, template: string, count = 1): Promise<MailboxMessage & { count: number }> {
      const deadline = Date.now() + PATIENCE_MS;
      for (;;) {
        const found = (await list(to)).filter((m) => m.template === template);
        if (found.length >= count) return { ...found[0]!, count: found.length };
        if (Date.now() > deadline)
          throw new Error(
            `no ${count}. '${template}' message to ${to} within ${PATIENCE_MS} ms (found ${found.length})`,
          );
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    },
  };
};
