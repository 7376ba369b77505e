import type { Sql } from '@lectern/infra/sql/index';
import { migrate, sqlMigration } from '@lectern/infra/sql/index';
import type { Logger } from '@lectern/infra/runtime/logger';

/** A message identity would send: a verification link, a reset link, a phone code. */
export type OutboundMessage = Readonly<{
  channel: 'email' | 'sms';
  to: string;
  template: 'verify-email' | 'confirm-email-change' | 'reset-password' | 'phone-code';
  subject: string;
  text: string;
}>;

/**
 * Where identity hands its messages. Until the notifications worker exists,
 * development keeps them in a table readable at `GET /api/dev/outbox`;
 * production drops them (with a log line that names the template and a
 * masked address, never the body, which holds the secret).
 *
 * @example await outbox.send({ channel: 'sms', to: '+4915112345678', template: 'phone-code', subject: 'Code', text: '…' })
 */
export type Outbox = Readonly<{ send(message: OutboundMessage): Promise<void> }>;

export type DevOutbox = Outbox &
  Readonly<{ list(to: string, limit?: number): Promise<readonly (OutboundMessage & { sentAt: string })[]> }>;

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
];

/** The development outbox: a table in the shared database, so every process's messages are readable. */
export const devOutbox = async (sql: Sql): Promise<DevOutbox> => {
  await migrate(sql, 'dev_outbox', migrations);
  return {
    async send(m) {
      await sql.query(
        'insert into dev_outbox (channel, recipient, template, subject, body) values ($1,$2,$3,$4,$5)',
        [m.channel, m.to, m.template, m.subject, m.text],
      );
    },
    async list(to, limit = 20) {
      const rows = await sql.query<{
        channel: 'email' | 'sms';
        recipient: string;
        template: OutboundMessage['template'];
        subject: string;
        body: string;
        sent_at: Date | string;
      }>(
        'select channel, recipient, template, subject, body, sent_at from dev_outbox where recipient = $1 order by id desc limit $2',
        [to, limit],
      );
      return rows.map((r) => ({
        channel: r.channel,
        to: r.recipient,
        template: r.template,
        subject: r.subject,
        text: r.body,
        sentAt: new Date(r.sent_at).toISOString(),
      }));
    },
  };
};

const mask = (address: string): string =>
  address.includes('@')
    ? address.replace(/^(.).*(@.*)$/, '$1…$2')
    : address.replace(/^(.{3}).*(.{2})$/, '$1…$2');

/** Production until the notifications worker lands: nothing is kept, nothing secret is logged. */
export const discardingOutbox = (logger: Logger): Outbox => ({
  async send(m) {
    logger.warn(
      { channel: m.channel, template: m.template, to: mask(m.to) },
      'no message delivery configured: dropped',
    );
  },
});
