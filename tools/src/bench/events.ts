import { randomBytes, randomUUID } from 'node:crypto';
import { profile as schema, type EventMetadata, type NewEvent } from '@lectern/schemas';

/**
 * Events shaped like production ones: `profile.ProfileUpdated` with the full
 * metadata a request stamps on it (actor, correlation, trace), so payload
 * sizes, JSON work and index keys match what the store really sees.
 */
export type BenchUser = Readonly<{ userId: string; streamId: string }>;

export const benchUser = (): BenchUser => {
  const userId = randomUUID();
  return { userId, streamId: schema.profileStreamId(userId) };
};

const metadataFor = (userId: string): EventMetadata => ({
  correlationId: randomUUID(),
  causationId: randomUUID(),
  actor: { userId, roles: ['learner'] },
  requestId: randomUUID(),
  traceparent: `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`,
});

const FIELDS = ['displayName', 'bio', 'learningGoal', 'timezone'] as const;
const valueOf = (field: string, revision: number): string | null =>
  revision < 0
    ? null
    : field === 'timezone'
      ? ['Europe/Berlin', 'America/New_York', 'Asia/Tokyo'][revision % 3]!
      : field === 'learningGoal'
        ? ['career', 'hobby', 'academic', 'certification'][revision % 4]!
        : `${field} number ${revision} of a learner who writes a sentence or two about themselves`;

/** What the benchmarks append: typed, so a comparison's adapter reads its data without a cast. */
export type BenchEvent = NewEvent<'profile.ProfileUpdated', schema.ProfileUpdated>;

/** The event with which a profile goes from `revision - 1` to `revision`: one or two field changes. */
export const profileUpdated = (user: BenchUser, revision: number): BenchEvent => {
  const at = new Date().toISOString();
  const first = FIELDS[revision % FIELDS.length]!;
  const fields = revision % 3 === 0 ? [first, FIELDS[(revision + 1) % FIELDS.length]!] : [first];
  const data: schema.ProfileUpdated = {
    userId: user.userId,
    changes: fields.map((field) => ({
      field,
      from: valueOf(field, revision - FIELDS.length),
      to: valueOf(field, revision),
    })),
    updatedAt: at,
  };
  return {
    id: randomUUID(),
    type: 'profile.ProfileUpdated',
    schemaVersion: 1,
    occurredAt: at,
    data,
    metadata: metadataFor(user.userId),
  };
};
