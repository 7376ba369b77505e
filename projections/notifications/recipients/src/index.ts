import { identity, profile, type RecordedEvent } from '@lectern/schemas';
import { documentProjection, liveTable, type SqlProjection } from '@lectern/infra/runtime/projection';
import type { SqlExecutor } from '@lectern/infra/sql/sql';

const TABLE = 'notification_recipients';

/** Where a user's messages go and in which language: the notifications context's own view of identity and profile. */
export type NotificationRecipient = Readonly<{
  userId: string;
  email: string;
  phone: string | null;
  /** The interface language the user chose in their profile; null until they do. */
  locale: string | null;
  /** The name the user shows others (their profile's); null until they set one. */
  displayName: string | null;
}>;

const keyOf = (e: RecordedEvent): string | null => {
  if (identity.isIdentityEvent(e))
    switch (e.type) {
      case 'identity.UserRegistered':
      case 'identity.EmailChanged':
      case 'identity.PhoneChanged':
        return e.data.userId;
      default:
        return null;
    }
  if (profile.isProfileEvent(e) && e.type === 'profile.ProfileUpdated') return e.data.userId;
  return null;
};

const evolve = (doc: NotificationRecipient | null, e: RecordedEvent): NotificationRecipient | null => {
  if (identity.isIdentityEvent(e))
    switch (e.type) {
      case 'identity.UserRegistered':
        return {
          userId: e.data.userId,
          email: e.data.email,
          phone: null,
          locale: doc?.locale ?? null,
          displayName: doc?.displayName ?? null,
        };
      case 'identity.EmailChanged':
        return doc && { ...doc, email: e.data.to };
      case 'identity.PhoneChanged':
        return doc && { ...doc, phone: e.data.to };
      default:
        return doc;
    }
  if (profile.isProfileEvent(e) && e.type === 'profile.ProfileUpdated') {
    const changed = (field: string) => e.data.changes.find((c) => c.field === field);
    const locale = changed('locale');
    const name = changed('displayName');
    if (!locale && !name) return doc;
    // A profile may be projected before its user (two streams, two partitions): keep what it says until the user comes.
    const base = doc ?? { userId: e.data.userId, email: '', phone: null, locale: null, displayName: null };
    return {
      ...base,
      ...(locale ? { locale: locale.to } : {}),
      ...(name ? { displayName: name.to } : {}),
    };
  }
  return doc;
};

/**
 * `notification_recipients`: one document per user with the address, the
 * phone and the language the notifications worker writes to. It is the
 * worker's only way to reach a user it knows by id (a password reset names
 * the user, not the address).
 */
export const notificationRecipientsProjection: SqlProjection = documentProjection<NotificationRecipient>({
  name: 'notification_recipients',
  // 2: the display name (a fan-out names the author).
  version: 2,
  contexts: ['identity', 'profile'],
  // Made of its events' data alone: a rebuild reads no metadata.
  metadata: [],
  eventTypes: [
    'identity.UserRegistered',
    'identity.EmailChanged',
    'identity.PhoneChanged',
    'profile.ProfileUpdated',
  ],
  table: TABLE,
  key: keyOf,
  evolve,
});

const recipients = liveTable(TABLE);

/** The recipient with this user id, or null: unknown, or its registration not projected yet. */
export const recipientById = async (
  sql: SqlExecutor,
  userId: string,
): Promise<NotificationRecipient | null> => {
  const [row] = await sql.query<{ doc: NotificationRecipient }>(
    `select doc from ${recipients} where id = $1`,
    [userId],
  );
  return row && row.doc.email !== '' ? row.doc : null;
};

/** The recipients of these user ids that are known (a fan-out reads a page of them at once). */
export const recipientsByIds = async (
  sql: SqlExecutor,
  userIds: readonly string[],
): Promise<ReadonlyMap<string, NotificationRecipient>> => {
  if (userIds.length === 0) return new Map();
  const rows = await sql.query<{ doc: NotificationRecipient }>(
    `select doc from ${recipients} where id = any($1::text[])`,
    [userIds],
  );
  return new Map(rows.filter((r) => r.doc.email !== '').map((r) => [r.doc.userId, r.doc]));
};

/**
 * The stream and position of each user's registration in the event store
 * (a user's stream begins with it), read in one go: what this model must
 * have applied before it may say the user has no address (`waitFor` with
 * these). Users the store holds no registration of are absent.
 */
export const registrationsOf = async (
  store: Readonly<{
    readFirstEvents(streamIds: readonly string[]): Promise<ReadonlyMap<string, RecordedEvent>>;
  }>,
  userIds: readonly string[],
): Promise<ReadonlyMap<string, { streamId: string; position: number }>> => {
  const firsts = await store.readFirstEvents(userIds.map(identity.userStreamId));
  return new Map(
    userIds.flatMap((userId) => {
      const first = firsts.get(identity.userStreamId(userId));
      return first?.type === 'identity.UserRegistered'
        ? [[userId, { streamId: first.streamId, position: first.position }] as const]
        : [];
    }),
  );
};

/**
 * The users whose e-mail address or phone number this is (compared without
 * case for an e-mail), those projected so far: a send to a bare address
 * honours its owner's choices. A phone may be several users'.
 */
export const recipientIdsByAddress = async (
  sql: SqlExecutor,
  channel: 'email' | 'sms',
  address: string,
): Promise<string[]> => {
  const rows = await sql.query<{ id: string }>(
    channel === 'email'
      ? `select id from ${recipients} where lower(doc->>'email') = lower($1)`
      : `select id from ${recipients} where doc->>'phone' = $1`,
    [address],
  );
  return rows.map((r) => r.id);
};
