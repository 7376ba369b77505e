import type { Sql } from '../sql/index.ts';
import { migrate, sqlMigration } from '../sql/index.ts';
import type { EmailSender, PushSender, SmsSender } from '../ports/channel-sender.ts';

/** One message as the development mailbox keeps it. */
export type MailboxItem = Readonly<{
  channel: 'email' | 'sms' | 'push';
  to: string;
  /** The template it was made from (the message's `tag`). */
  template: string;
  /** Our message id (the notification's), as the provider saw it. */
  messageId: string;
  subject: string;
  text: string;
  html: string | null;
  sentAt: string;
}>;

/**
 * The embedded profile's provider for every channel: a table in the shared
 * database, so that what any process sent is readable at `GET
 * /api/dev/outbox` and a newcomer can follow the README's walkthrough with
 * `./dev start` alone. Never used in production (the configuration refuses
 * it there): its rows hold links and codes in the clear.
 *
 * @example
 *   const box = await devMailbox(sql);
 *   await box.email.send(message);
 *   (await box.list('ada@example.org'))[0]?.text;
 */
export type DevMailbox = Readonly<{
  email: EmailSender;
  sms: SmsSender;
  push: PushSender;
  /** The newest messages to an address, a phone number or a device token, newest first. */
  list(to: string, limit?: number): Promise<readonly MailboxItem[]>;
}>;

const migrations = [
  sqlMigration(
    '001_dev_outbox',
    `create table if not exists dev_outbox (
       id bigserial primary key,
       channel text not null,
       recipient text not null,
       template text not null,
       subject text not null,
       body text not null,
       sent_at timestamptz not null default now()
     );
     create index if not exists dev_outbox_recipient on dev_outbox (recipient, id desc);`,
    'drop table if exists dev_outbox;',
  ),
  // The mailbox became the notifications worker's provider: it keeps our
  // message id (a redelivered message is recognisable) and the HTML part.
  sqlMigration(
    '002_dev_outbox_message',
    `alter table dev_outbox add column if not exists message_id text;
     alter table dev_outbox add column if not exists html text;`,
    `alter table dev_outbox drop column if exists html;
     alter table dev_outbox drop column if exists message_id;`,
  ),
];

export const devMailbox = async (sql: Sql): Promise<DevMailbox> => {
  await migrate(sql, 'dev_outbox', migrations);
  const put = async (
    channel: MailboxItem['channel'],
    to: string,
    template: string,
    messageId: string,
    subject: string,
    text: string,
    html: string | null,
  ) => {
    const [row] = await sql.query<{ id: string }>(
      `insert into dev_outbox (channel, recipient, template, message_id, subject, body, html)
       values ($1, $2, $3, $4, $5, $6, $7) returning id::text`,
      [channel, to, template, messageId, subject, text, html],
    );
    return { provider: 'dev-mailbox', providerMessageId: `dev-${row!.id}` };
  };
  const close = async () => {};
  return {
    email: {
      name: 'dev-mailbox',
      send: (m) => put('email', m.to, m.tag, m.messageId, m.subject, m.text, m.html),
      close,
    },
    sms: { name: 'dev-mailbox', send: (m) => put('sms', m.to, m.tag, m.messageId, '', m.text, null), close },
    push: {
      name: 'dev-mailbox',
      send: (m) => put('push', m.token, m.tag, m.messageId, m.title, m.body, null),
      close,
    },
    async list(to, limit = 20) {
      const rows = await sql.query<{
        channel: MailboxItem['channel'];
        recipient: string;
        template: string;
        message_id: string | null;
        subject: string;
        body: string;
        html: string | null;
        sent_at: Date | string;
      }>(
        `select channel, recipient, template, message_id, subject, body, html, sent_at
           from dev_outbox where recipient = $1 order by id desc limit $2`,
        [to, limit],
      );
      return rows.map((r) => ({
        channel: r.channel,
        to: r.recipient,
        template: r.template,
        messageId: r.message_id ?? '',
        subject: r.subject,
        text: r.body,
        html: r.html,
        sentAt: new Date(r.sent_at).toISOString(),
      }));
    },
  };
};
