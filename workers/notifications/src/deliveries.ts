import { migrate, sqlMigration, type Sql, type SqlExecutor } from '@lectern/infra/sql/index';
import { clip } from '@lectern/infra/runtime/text';

/**
 * `notification_deliveries`: the notifications worker's own record, one row
 * per notification, keyed by its id, which is derived from (causing event,
 * recipient, channel). The primary key is what makes "never twice" hold
 * forever (not for a day): a replay, a redelivery, a rebuild or a second
 * worker finds the row `sent` or `suppressed` and sends nothing.
 *
 * Every decision is in it, with the attempts it took and the provider that
 * took the message: support answers "why did user X not get message Y" from
 * here (`GET /api/admin/notifications?user=`).
 */
export type DeliveryStatus = 'pending' | 'sent' | 'suppressed' | 'failed' | 'dead';

export type Delivery = Readonly<{
  notificationId: string;
  eventId: string;
  eventType: string;
  correlationId: string | null;
  template: string;
  templateVersion: number;
  channel: 'email' | 'sms' | 'push';
  userId: string | null;
  /** The address, masked (`a…@example.org`, `+49…78`): enough to tell two apart, not to write to. */
  address: string;
  status: DeliveryStatus;
  reason: string | null;
  provider: string | null;
  providerRef: string | null;
  attempts: number;
  createdAt: string;
  updatedAt: string;
}>;

const migrations = [
  sqlMigration(
    '001_notification_deliveries',
    `create table if not exists notification_deliveries (
       notification_id uuid primary key,
       event_id uuid not null,
       event_type text not null,
       correlation_id text,
       template text not null,
       template_version int not null,
       channel text not null check (channel in ('email', 'sms', 'push')),
       user_id uuid,
       address text not null,
       status text not null check (status in ('pending', 'sent', 'suppressed', 'failed', 'dead')),
       reason text,
       provider text,
       provider_ref text,
       attempts int not null default 0,
       created_at timestamptz not null,
       updated_at timestamptz not null
     );
     create index if not exists notification_deliveries_user on notification_deliveries (user_id, created_at desc);
     create index if not exists notification_deliveries_event on notification_deliveries (event_id);`,
    'drop table if exists notification_deliveries;',
  ),
];

export const migrateDeliveries = (sql: Sql): Promise<void> =>
  migrate(sql, 'notification_deliveries', migrations);

export type NewDelivery = Omit<
  Delivery,
  'status' | 'reason' | 'provider' | 'providerRef' | 'attempts' | 'createdAt' | 'updatedAt'
>;

/**
 * Records a notification as pending unless it exists; answers its status
 * now. `sent` and `suppressed` are final: the caller sends nothing more.
 */
export const openDelivery = async (sql: SqlExecutor, d: NewDelivery, at: string): Promise<DeliveryStatus> => {
  await sql.query(
    `insert into notification_deliveries (notification_id, event_id, event_type, correlation_id, template,
       template_version, channel, user_id, address, status, created_at, updated_at)
     values ($1::uuid, $2::uuid, $3, $4, $5, $6, $7, $8::uuid, $9, 'pending', $10::timestamptz, $10::timestamptz)
     on conflict (notification_id) do nothing`,
    [
      d.notificationId,
      d.eventId,
      d.eventType,
      d.correlationId,
      d.template,
      d.templateVersion,
      d.channel,
      d.userId,
      d.address,
      at,
    ],
  );
  const [row] = await sql.query<{ status: DeliveryStatus }>(
    'select status from notification_deliveries where notification_id = $1::uuid',
    [d.notificationId],
  );
  return row!.status;
};

/** Records a decision about a notification (never un-sends one: a `sent` row stays sent); answers the row as it is now. */
export const decide = async (
  sql: SqlExecutor,
  notificationId: string,
  decision: Readonly<{
    status: Exclude<DeliveryStatus, 'pending'>;
    reason: string | null;
    provider: string | null;
    providerRef: string | null;
    attempts: number;
  }>,
  at: string,
): Promise<Delivery> => {
  await sql.query(
    `update notification_deliveries
        set status = $2, reason = $3, provider = coalesce($4, provider), provider_ref = coalesce($5, provider_ref),
            attempts = greatest(attempts, $6), updated_at = $7::timestamptz
      where notification_id = $1::uuid and status not in ('sent', 'suppressed')`,
    [
      notificationId,
      decision.status,
      decision.reason == null ? null : clip(decision.reason, 2000),
      decision.provider,
      decision.providerRef,
      decision.attempts,
      at,
    ],
  );
  return (await deliveryById(sql, notificationId))!;
};

type Row = {
  notification_id: string;
  event_id: string;
  event_type: string;
  correlation_id: string | null;
  template: string;
  template_version: number;
  channel: Delivery['channel'];
  user_id: string | null;
  address: string;
  status: DeliveryStatus;
  reason: string | null;
  provider: string | null;
  provider_ref: string | null;
  attempts: number;
  created_at: Date | string;
  updated_at: Date | string;
};
const COLUMNS = `notification_id::text, event_id::text, event_type, correlation_id, template, template_version,
  channel, user_id::text, address, status, reason, provider, provider_ref, attempts, created_at, updated_at`;
const toDelivery = (r: Row): Delivery => ({
  notificationId: r.notification_id,
  eventId: r.event_id,
  eventType: r.event_type,
  correlationId: r.correlation_id,
  template: r.template,
  templateVersion: r.template_version,
  channel: r.channel,
  userId: r.user_id,
  address: r.address,
  status: r.status,
  reason: r.reason,
  provider: r.provider,
  providerRef: r.provider_ref,
  attempts: r.attempts,
  createdAt: new Date(r.created_at).toISOString(),
  updatedAt: new Date(r.updated_at).toISOString(),
});

/** A user's notifications, newest first. */
export const deliveriesOfUser = async (
  sql: SqlExecutor,
  userId: string,
  limit = 50,
): Promise<readonly Delivery[]> =>
  (
    await sql.query<Row>(
      `select ${COLUMNS} from notification_deliveries where user_id = $1::uuid order by created_at desc, notification_id limit $2`,
      [userId, limit],
    )
  ).map(toDelivery);

/** The notifications one event caused. */
export const deliveriesOfEvent = async (sql: SqlExecutor, eventId: string): Promise<readonly Delivery[]> =>
  (
    await sql.query<Row>(
      `select ${COLUMNS} from notification_deliveries where event_id = $1::uuid order by notification_id`,
      [eventId],
    )
  ).map(toDelivery);

/** One notification's row, or null. */
export const deliveryById = async (sql: SqlExecutor, notificationId: string): Promise<Delivery | null> => {
  const [row] = await sql.query<Row>(
    `select ${COLUMNS} from notification_deliveries where notification_id = $1::uuid`,
    [notificationId],
  );
  return row ? toDelivery(row) : null;
};

/** A notification to open: pending, or suppressed at once (why, and on which try) when it is not to be sent. */
export type Opening = NewDelivery &
  Readonly<{ suppressed: Readonly<{ reason: string; attempts: number }> | null }>;

/** A row as `openDeliveries` found or made it; `made` when this call made it. */
export type Opened = Readonly<{ row: Delivery; made: boolean }>;

/**
 * `openDelivery` for a page of notifications at once: each made unless it
 * exists, pending, or suppressed at once when it is not to be sent (a row
 * and its decision in one write rather than two); answers every row as it
 * is now, by id. A row that exists is left as it is.
 */
export const openDeliveries = async (
  sql: SqlExecutor,
  rows: readonly Opening[],
  at: string,
): Promise<ReadonlyMap<string, Opened>> => {
  if (rows.length === 0) return new Map();
  const made = await sql.query<{ notification_id: string }>(
    `insert into notification_deliveries (notification_id, event_id, event_type, correlation_id, template,
       template_version, channel, user_id, address, status, reason, attempts, created_at, updated_at)
     select r.notification_id, r.event_id, r.event_type, r.correlation_id, r.template, r.template_version,
            r.channel, r.user_id, r.address, r.status, r.reason, r.attempts, $2::timestamptz, $2::timestamptz
       from jsonb_to_recordset($1::jsonb) as r(notification_id uuid, event_id uuid, event_type text,
            correlation_id text, template text, template_version int, channel text, user_id uuid, address text,
            status text, reason text, attempts int)
     on conflict (notification_id) do nothing
     returning notification_id::text`,
    [
      JSON.stringify(
        rows.map((d) => ({
          notification_id: d.notificationId,
          event_id: d.eventId,
          event_type: d.eventType,
          correlation_id: d.correlationId,
          template: d.template,
          template_version: d.templateVersion,
          channel: d.channel,
          user_id: d.userId,
          address: d.address,
          status: d.suppressed ? 'suppressed' : 'pending',
          reason: d.suppressed ? clip(d.suppressed.reason, 2000) : null,
          attempts: d.suppressed?.attempts ?? 0,
        })),
      ),
      at,
    ],
  );
  // A row just made is what was given; only those that existed are read (a retry's).
  const fresh = new Set(made.map((r) => r.notification_id));
  const byId = new Map<string, Opened>();
  const existing: string[] = [];
  const createdAt = new Date(at).toISOString();
  for (const { suppressed, ...d } of rows) {
    if (!fresh.has(d.notificationId)) existing.push(d.notificationId);
    else
      byId.set(d.notificationId, {
        made: true,
        row: {
          ...d,
          status: suppressed ? 'suppressed' : 'pending',
          reason: suppressed ? clip(suppressed.reason, 2000) : null,
          provider: null,
          providerRef: null,
          attempts: suppressed?.attempts ?? 0,
          createdAt,
          updatedAt: createdAt,
        },
      });
  }
  if (existing.length) {
    const found = await sql.query<Row>(
      `select ${COLUMNS} from notification_deliveries where notification_id = any($1::uuid[])`,
      [existing],
    );
    for (const r of found) byId.set(r.notification_id, { made: false, row: toDelivery(r) });
  }
  return byId;
};

export type Decision = Readonly<{
  notificationId: string;
  status: Exclude<DeliveryStatus, 'pending'>;
  reason: string | null;
  provider: string | null;
  providerRef: string | null;
  attempts: number;
}>;

/** `decide` for many notifications in one statement; answers the rows it changed. */
export const decideMany = async (
  sql: SqlExecutor,
  decisions: readonly Decision[],
  at: string,
): Promise<readonly Delivery[]> => {
  if (decisions.length === 0) return [];
  const rows = await sql.query<Row>(
    `update notification_deliveries d
        set status = r.status, reason = r.reason, provider = coalesce(r.provider, d.provider),
            provider_ref = coalesce(r.provider_ref, d.provider_ref), attempts = greatest(d.attempts, r.attempts),
            updated_at = $2::timestamptz
       from jsonb_to_recordset($1::jsonb) as r(notification_id uuid, status text, reason text, provider text,
            provider_ref text, attempts int)
      where d.notification_id = r.notification_id and d.status not in ('sent', 'suppressed')
      returning d.notification_id::text, d.event_id::text, d.event_type, d.correlation_id, d.template,
        d.template_version, d.channel, d.user_id::text, d.address, d.status, d.reason, d.provider, d.provider_ref,
        d.attempts, d.created_at, d.updated_at`,
    [
      JSON.stringify(
        decisions.map((x) => ({
          notification_id: x.notificationId,
          status: x.status,
          reason: x.reason == null ? null : clip(x.reason, 2000),
          provider: x.provider,
          provider_ref: x.providerRef,
          attempts: x.attempts,
        })),
      ),
      at,
    ],
  );
  return rows.map(toDelivery);
};
