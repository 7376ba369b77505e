import { decisionEventsOf, isDeliveryEvent } from '@lectern/schemas/notifications/events';
import { liveTable, type SqlProjection } from '@lectern/infra/runtime/projection';
import type { SqlExecutor } from '@lectern/infra/sql/sql';

const TABLE = 'notification_log';

/** One decision about one notification: what support reads to answer "why did user X not get message Y". */
export type NotificationDecision = Readonly<{
  /** The decision's own event id. */
  decisionId: string;
  notificationId: string;
  decision: 'sent' | 'suppressed' | 'failed' | 'dead_lettered';
  template: string;
  templateVersion: number;
  channel: 'email' | 'sms' | 'push';
  userId: string | null;
  /** Masked. */
  address: string;
  causeEventId: string;
  causeEventType: string;
  provider: string | null;
  providerRef: string | null;
  attempts: number | null;
  reason: string | null;
  at: string;
}>;

/**
 * `notification_log`: every decision of the notifications worker (sent,
 * suppressed and why, failed with the provider and the try, dead-lettered),
 * one row per decision, keyed by its event's id so a redelivery adds
 * nothing. A `NotificationsDecided` (a fan-out's page) is a row per decision
 * it holds, each keyed by the id of the single event it stands for.
 */
export const notificationLogProjection: SqlProjection = {
  name: 'notification_log',
  version: 1,
  contexts: ['notifications'],
  // Made of its events' data alone: a rebuild reads no metadata.
  metadata: [],
  eventTypes: [
    'notifications.NotificationSent',
    'notifications.NotificationSuppressed',
    'notifications.NotificationFailed',
    'notifications.NotificationsDecided',
  ],
  tables: [TABLE],
  ddl: (t) => `
    create table if not exists ${t[TABLE]} (
      decision_id uuid primary key,
      notification_id uuid not null,
      decision text not null,
      template text not null,
      template_version int not null,
      channel text not null,
      user_id uuid,
      address text not null,
      cause_event_id uuid not null,
      cause_event_type text not null,
      provider text,
      provider_ref text,
      attempts int,
      reason text,
      at timestamptz not null,
      position bigint not null
    );
    create index if not exists notification_log_user on ${t[TABLE]} (user_id, at desc, decision_id);
    create index if not exists notification_log_notification on ${t[TABLE]} (notification_id)`,
  async apply(tx, batch, t) {
    const rows = batch
      .filter(isDeliveryEvent)
      .flatMap(decisionEventsOf)
      .map((e) => {
        const d = e.data;
        const common = {
          decision_id: e.id,
          notification_id: d.notificationId,
          template: d.template,
          template_version: d.templateVersion,
          channel: d.channel,
          user_id: d.userId,
          address: d.address,
          cause_event_id: d.causeEventId,
          cause_event_type: d.causeEventType,
          position: e.position,
        };
        switch (e.type) {
          case 'notifications.NotificationSent':
            return {
              ...common,
              decision: 'sent',
              provider: e.data.provider,
              provider_ref: e.data.providerRef,
              attempts: e.data.attempts,
              reason: null,
              at: e.data.sentAt,
            };
          case 'notifications.NotificationSuppressed':
            return {
              ...common,
              decision: 'suppressed',
              provider: null,
              provider_ref: null,
              attempts: null,
              reason: e.data.reason,
              at: e.data.suppressedAt,
            };
          case 'notifications.NotificationFailed':
            return {
              ...common,
              decision: e.data.deadLettered ? 'dead_lettered' : 'failed',
              provider: e.data.provider,
              provider_ref: null,
              attempts: e.data.attempts,
              reason: e.data.reason,
              at: e.data.failedAt,
            };
        }
      });
    if (rows.length === 0) return;
    await tx.query(
      `insert into ${t[TABLE]} (decision_id, notification_id, decision, template, template_version, channel, user_id,
         address, cause_event_id, cause_event_type, provider, provider_ref, attempts, reason, at, position)
       select * from jsonb_to_recordset($1::jsonb) as r(decision_id uuid, notification_id uuid, decision text,
         template text, template_version int, channel text, user_id uuid, address text, cause_event_id uuid,
         cause_event_type text, provider text, provider_ref text, attempts int, reason text, at timestamptz,
         position bigint)
       on conflict (decision_id) do nothing`,
      [JSON.stringify(rows)],
    );
  },
};

const log = liveTable(TABLE);

type Row = {
  decision_id: string;
  notification_id: string;
  decision: NotificationDecision['decision'];
  template: string;
  template_version: number;
  channel: NotificationDecision['channel'];
  user_id: string | null;
  address: string;
  cause_event_id: string;
  cause_event_type: string;
  provider: string | null;
  provider_ref: string | null;
  attempts: number | null;
  reason: string | null;
  at: Date | string;
};

const toDecision = (r: Row): NotificationDecision => ({
  decisionId: r.decision_id,
  notificationId: r.notification_id,
  decision: r.decision,
  template: r.template,
  templateVersion: r.template_version,
  channel: r.channel,
  userId: r.user_id,
  address: r.address,
  causeEventId: r.cause_event_id,
  causeEventType: r.cause_event_type,
  provider: r.provider,
  providerRef: r.provider_ref,
  attempts: r.attempts,
  reason: r.reason,
  at: new Date(r.at).toISOString(),
});

/**
 * A user's notification decisions, newest first, `limit` at a time; pass
 * the last one's `{at, decisionId}` as `before` for the next page.
 */
export const decisionsOfUser = async (
  sql: SqlExecutor,
  userId: string,
  opts: Readonly<{ limit: number; before?: Readonly<{ at: string; decisionId: string }> | null }>,
): Promise<readonly NotificationDecision[]> =>
  (
    await sql.query<Row>(
      `select decision_id::text, notification_id::text, decision, template, template_version, channel,
              user_id::text, address, cause_event_id::text, cause_event_type, provider, provider_ref, attempts,
              reason, at
         from ${log}
        where user_id = $1::uuid and ($2::timestamptz is null or (at, decision_id) < ($2::timestamptz, $3::uuid))
        order by at desc, decision_id desc
        limit $4`,
      [userId, opts.before?.at ?? null, opts.before?.decisionId ?? null, opts.limit],
    )
  ).map(toDecision);
