import * as schema from '@lectern/schemas/notifications/subscriptions';
import { liveTable, type SqlProjection } from '@lectern/infra/runtime/projection';
import type { SqlExecutor } from '@lectern/infra/sql/sql';

const PREFERENCES = 'notification_preferences';
const SUBSCRIBERS = 'notification_topic_subscribers';

export type PushDevice = Readonly<{ deviceId: string; token: string; platform: schema.PushPlatform }>;

/** A user's subscriptions as the worker and `GET /api/subscriptions` read them. */
export type NotificationPreferences = Readonly<{
  userId: string;
  channels: schema.Channels;
  /** With their push tokens: the worker sends to them; the query route shows only their ends. */
  devices: readonly PushDevice[];
  topics: readonly schema.Topic[];
  /** The revision of the user's stream this shows; -1 before their first change (the defaults). */
  revision: number;
}>;

type Row = Readonly<{ channels: schema.Channels; devices: readonly PushDevice[]; revision: number }>;
const defaults: Row = { channels: schema.defaultChannels, devices: [], revision: -1 };

/** A row's next value under one event; the topic events change only the revision here. */
const evolve = (row: Row, e: schema.RecordedSubscriptionEvent): Row => {
  switch (e.type) {
    case 'notifications.ChannelsChanged': {
      const { email, sms, push } = e.data;
      return { ...row, channels: { email, sms, push }, revision: e.revision };
    }
    case 'notifications.PushDeviceRegistered': {
      const { deviceId, token, platform } = e.data;
      return { ...row, devices: [...row.devices, { deviceId, token, platform }], revision: e.revision };
    }
    case 'notifications.PushDeviceRemoved': {
      const gone = e.data.deviceId;
      return { ...row, devices: row.devices.filter((d) => d.deviceId !== gone), revision: e.revision };
    }
    case 'notifications.TopicSubscribed':
    case 'notifications.TopicUnsubscribed':
      return { ...row, revision: e.revision };
    default: {
      const unhandled: never = e;
      return unhandled;
    }
  }
};

/**
 * `notification_preferences`: per user, the channels they accept and their
 * push devices (what the worker checks before it sends, and where it sends
 * pushes); `notification_topic_subscribers`: who follows each course and
 * author, keyed for a fan-out that pages through a topic's followers in
 * user-id order. A user who never changed anything has no row: the readers
 * answer the defaults.
 *
 * Every event of a user's stream moves the revision of their preferences
 * row, and an event at or below it changes nothing, in either table: so a
 * redriven dead letter cannot bring back a topic or a device that a later
 * event removed. Each batch reads the rows it touches once and writes each
 * once.
 */
export const subscriptionsProjection: SqlProjection = {
  name: 'notification_subscriptions',
  version: 1,
  contexts: ['notifications'],
  // Made of its events' data alone: a rebuild reads no metadata.
  metadata: [],
  eventTypes: Object.keys(schema.subscriptionEvents),
  tables: [PREFERENCES, SUBSCRIBERS],
  ddl: (t) => `
    create table if not exists ${t[PREFERENCES]} (
      user_id uuid primary key,
      email boolean not null,
      sms boolean not null,
      push boolean not null,
      devices jsonb not null,
      revision bigint not null
    );
    create table if not exists ${t[SUBSCRIBERS]} (
      topic_kind text not null,
      topic_id uuid not null,
      user_id uuid not null,
      primary key (topic_kind, topic_id, user_id)
    );
    create index if not exists notification_topic_subscribers_by_user on ${t[SUBSCRIBERS]} (user_id)`,
  async apply(tx, batch, t) {
    const events = batch.filter(schema.isSubscriptionEvent);
    if (events.length === 0) return;
    const users = [...new Set(events.map((e) => e.data.userId))];
    const found = await tx.query<{
      user_id: string;
      email: boolean;
      sms: boolean;
      push: boolean;
      devices: PushDevice[];
      revision: string | number;
    }>(
      `select user_id::text as user_id, email, sms, push, devices, revision
       from ${t[PREFERENCES]} where user_id = any($1::uuid[])`,
      [users],
    );
    const rows = new Map<string, Row>(
      found.map((r) => [
        r.user_id,
        {
          channels: { email: r.email, sms: r.sms, push: r.push },
          devices: r.devices,
          revision: Number(r.revision),
        },
      ]),
    );
    const changed = new Set<string>();
    // The last word on each (topic, user) in the batch: followed or not.
    const follows = new Map<
      string,
      Readonly<{ kind: string; id: string; user_id: string; follows: boolean }>
    >();
    for (const e of events) {
      const userId = e.data.userId;
      const row = rows.get(userId) ?? defaults;
      if (e.revision <= row.revision) continue;
      rows.set(userId, evolve(row, e));
      changed.add(userId);
      if (e.type === 'notifications.TopicSubscribed' || e.type === 'notifications.TopicUnsubscribed') {
        const { kind, id } = e.data.topic;
        follows.set(`${kind}:${id}:${userId}`, {
          kind,
          id,
          user_id: userId,
          follows: e.type === 'notifications.TopicSubscribed',
        });
      }
    }
    if (changed.size === 0) return;
    await tx.query(
      `insert into ${t[PREFERENCES]} (user_id, email, sms, push, devices, revision)
       select r.user_id, r.email, r.sms, r.push, r.devices, r.revision
       from jsonb_to_recordset($1::jsonb)
         as r(user_id uuid, email boolean, sms boolean, push boolean, devices jsonb, revision bigint)
       on conflict (user_id) do update set email = excluded.email, sms = excluded.sms, push = excluded.push,
         devices = excluded.devices, revision = excluded.revision`,
      [
        JSON.stringify(
          [...changed].map((userId) => {
            const row = rows.get(userId)!;
            return { user_id: userId, ...row.channels, devices: row.devices, revision: row.revision };
          }),
        ),
      ],
    );
    const followed = [...follows.values()].filter((f) => f.follows);
    const unfollowed = [...follows.values()].filter((f) => !f.follows);
    if (followed.length)
      await tx.query(
        `insert into ${t[SUBSCRIBERS]} (topic_kind, topic_id, user_id)
         select r.kind, r.id, r.user_id from jsonb_to_recordset($1::jsonb) as r(kind text, id uuid, user_id uuid)
         on conflict do nothing`,
        [JSON.stringify(followed)],
      );
    if (unfollowed.length)
      await tx.query(
        `delete from ${t[SUBSCRIBERS]} s
         using jsonb_to_recordset($1::jsonb) as r(kind text, id uuid, user_id uuid)
         where s.topic_kind = r.kind and s.topic_id = r.id and s.user_id = r.user_id`,
        [JSON.stringify(unfollowed)],
      );
  },
};

// Readers: the only SQL that reads `notification_preferences` and `notification_topic_subscribers`.

const preferences = liveTable(PREFERENCES);
const subscribers = liveTable(SUBSCRIBERS);

/** The topics a user follows, by kind then id; none before they follow one. */
export const topicsOf = async (sql: SqlExecutor, userId: string): Promise<schema.Topic[]> => {
  const rows = await sql.query<{ kind: schema.TopicKind; id: string }>(
    `select topic_kind as kind, topic_id::text as id from ${subscribers}
     where user_id = $1 order by topic_kind, topic_id`,
    [userId],
  );
  return rows.map((r) => ({ kind: r.kind, id: r.id }));
};

/** A user's channels, devices and topics; the defaults (every channel on, nothing else) before any change. */
export const preferencesOf = async (sql: SqlExecutor, userId: string): Promise<NotificationPreferences> => {
  // One statement, so the revision (the ETag) and the topics are of one moment.
  const [row] = await sql.query<{
    email: boolean | null;
    sms: boolean | null;
    push: boolean | null;
    devices: PushDevice[] | null;
    revision: string | number | null;
    topics: schema.Topic[];
  }>(
    `select p.email, p.sms, p.push, p.devices, p.revision,
       coalesce((select jsonb_agg(jsonb_build_object('kind', s.topic_kind, 'id', s.topic_id)
                                  order by s.topic_kind, s.topic_id)
                 from ${subscribers} s where s.user_id = $1::uuid), '[]'::jsonb) as topics
     from (select $1::uuid as user_id) u left join ${preferences} p on p.user_id = u.user_id`,
    [userId],
  );
  const topics = row?.topics ?? [];
  if (!row || row.revision === null)
    return { userId, channels: defaults.channels, devices: [], topics, revision: -1 };
  return {
    userId,
    channels: { email: row.email!, sms: row.sms!, push: row.push! },
    devices: row.devices ?? [],
    topics,
    revision: Number(row.revision),
  };
};

/** The largest page `subscribersOf` answers. */
export const SUBSCRIBERS_PAGE_MAX = 10_000;

/**
 * One page of a topic's followers, in user-id order: those after
 * `afterUserId` (from the start when null), at most `limit`. A fan-out
 * pages with the last id of each page until a page comes back short, and
 * each page is one range of the table's primary key however far in it is.
 *
 * @example
 *   for (let after = null, page; (page = await subscribersOf(sql, topic, { afterUserId: after, limit: 1000 })).length; ) {
 *     await send(page);
 *     after = page[page.length - 1]!;
 *   }
 */
export const subscribersOf = async (
  sql: SqlExecutor,
  topic: schema.Topic,
  page: Readonly<{ afterUserId: string | null; limit: number }>,
): Promise<string[]> => {
  if (!Number.isInteger(page.limit) || page.limit < 1 || page.limit > SUBSCRIBERS_PAGE_MAX)
    throw new RangeError(`subscribersOf: limit must be an integer from 1 to ${SUBSCRIBERS_PAGE_MAX}`);
  const rows =
    page.afterUserId === null
      ? await sql.query<{ user_id: string }>(
          `select user_id::text as user_id from ${subscribers}
           where topic_kind = $1 and topic_id = $2 order by user_id limit $3`,
          [topic.kind, topic.id, page.limit],
        )
      : await sql.query<{ user_id: string }>(
          `select user_id::text as user_id from ${subscribers}
           where topic_kind = $1 and topic_id = $2 and user_id > $3 order by user_id limit $4`,
          [topic.kind, topic.id, page.afterUserId, page.limit],
        );
  return rows.map((r) => r.user_id);
};

/** A follower on a fan-out's page, with the topics asked about that they follow (in the order asked). */
export type Follower = Readonly<{ userId: string; topics: readonly schema.Topic[] }>;

/**
 * One page of the users who follow any of `topics` (a course and its
 * author: a user following both counts once), in user-id order after
 * `afterUserId`, each with which of the topics they follow: what their
 * message's unsubscribe link turns off. A fan-out pages with the last id
 * until a page is short.
 *
 * Each topic gives at most `limit` of its own followers, from one range of
 * the primary key, and the page is the first `limit` of their union: a page
 * costs the same however far into 100k followers it is (merging whole
 * topics and sorting them cost a scan of every follower after the cursor,
 * each page).
 */
export const followersOfAny = async (
  sql: SqlExecutor,
  topics: readonly schema.Topic[],
  page: Readonly<{ afterUserId: string | null; limit: number }>,
): Promise<Follower[]> => {
  if (!Number.isInteger(page.limit) || page.limit < 1 || page.limit > SUBSCRIBERS_PAGE_MAX)
    throw new RangeError(`followersOfAny: limit must be an integer from 1 to ${SUBSCRIBERS_PAGE_MAX}`);
  if (topics.length === 0) return [];
  // `n`: each topic's place in `topics`, so a follower's topics come back in the order asked.
  const rows = await sql.query<{ user_id: string; topics: number[] }>(
    `select f.user_id::text as user_id, f.topics from (
       select s.user_id, array_agg(t.n::int order by t.n) as topics
         from unnest($1::text[], $2::uuid[]) with ordinality as t(kind, id, n)
         cross join lateral (
           select user_id from ${subscribers}
            where topic_kind = t.kind and topic_id = t.id and ($3::uuid is null or user_id > $3::uuid)
            order by user_id limit $4
         ) s
        group by s.user_id
     ) f order by f.user_id limit $4`,
    [topics.map((t) => t.kind), topics.map((t) => t.id), page.afterUserId, page.limit],
  );
  return rows.map((r) => ({ userId: r.user_id, topics: r.topics.map((n) => topics[n - 1]!) }));
};

/** The channels and devices of these users (the defaults for those who never chose), for a fan-out's page. */
export const channelsOfUsers = async (
  sql: SqlExecutor,
  userIds: readonly string[],
): Promise<ReadonlyMap<string, Readonly<{ channels: schema.Channels; devices: readonly PushDevice[] }>>> => {
  const found = new Map<string, { channels: schema.Channels; devices: readonly PushDevice[] }>(
    userIds.map((id) => [id, { channels: defaults.channels, devices: [] }]),
  );
  if (userIds.length === 0) return found;
  const rows = await sql.query<{
    user_id: string;
    email: boolean;
    sms: boolean;
    push: boolean;
    devices: PushDevice[] | null;
  }>(
    `select user_id::text as user_id, email, sms, push, devices from ${preferences} where user_id = any($1::uuid[])`,
    [userIds],
  );
  for (const r of rows)
    found.set(r.user_id, {
      channels: { email: r.email, sms: r.sms, push: r.push },
      devices: r.devices ?? [],
    });
  return found;
};

/** The users who registered this push token on one of their devices (a send to a bare token honours their choices). */
export const usersOfPushToken = async (sql: SqlExecutor, token: string): Promise<string[]> => {
  const rows = await sql.query<{ user_id: string }>(
    `select user_id::text as user_id from ${preferences}
     where devices @> jsonb_build_array(jsonb_build_object('token', $1::text))`,
    [token],
  );
  return rows.map((r) => r.user_id);
};
