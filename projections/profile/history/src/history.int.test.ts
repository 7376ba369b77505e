import test from 'ava';
import { eventFeed, projectionSpec } from '@lectern/infra/testing/projection-spec';
import { profile as schema } from '@lectern/schemas';
import type { RecordedEvent } from '@lectern/schemas';
import { historyPage, profileHistoryProjection, type ProfileHistoryEntry } from './index.ts';

const spec = projectionSpec(profileHistoryProjection);
test.after.always(() => spec.close());

const ada = '0b7c1e9a-3f44-4a8e-9d2c-6f1e2a3b4c5d';
const bob = '5d4c3b2a-1e2f-4c6d-8e9a-0b1c2d3e4f5a';
const admin = '9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a';
const at = (minute: number) => `2026-02-01T10:${String(minute).padStart(2, '0')}:00.000Z`;

type ProfileUpdatedEvent = Extract<schema.ProfileStreamEvent, { type: 'profile.ProfileUpdated' }>;
const updated = (userId: string, minute: number, ...changes: schema.FieldChange[]): ProfileUpdatedEvent => ({
  type: 'profile.ProfileUpdated',
  data: { userId, changes, updatedAt: at(minute) },
});

/** The entries an event's changes make, in the order they were made. */
const entries = (e: RecordedEvent & ProfileUpdatedEvent): ProfileHistoryEntry[] =>
  e.data.changes.map((c) => ({
    field: c.field,
    oldValue: c.from,
    newValue: c.to,
    changedAt: e.data.updatedAt,
    actorId: e.metadata.actor?.userId ?? null,
    eventId: e.id,
  }));
const newestFirst = (...events: (RecordedEvent & ProfileUpdatedEvent)[]) => events.flatMap(entries).reverse();

const adaHistory = () => {
  const feed = eventFeed();
  const stream = schema.profileStreamId(ada);
  const events = [
    ...feed.append(stream, [updated(ada, 1, { field: 'displayName', from: null, to: 'Ada' })], {
      actor: { userId: ada, roles: ['learner'] },
    }),
    ...feed.append(
      stream,
      [
        updated(
          ada,
          2,
          { field: 'bio', from: null, to: 'Engines.' },
          { field: 'socialLinks.github', from: null, to: 'https://github.com/ada' },
        ),
      ],
      { actor: { userId: admin, roles: ['admin'] } },
    ),
    ...feed.append(stream, [updated(ada, 3, { field: 'displayName', from: 'Ada', to: 'Ada Lovelace' })]),
  ];
  return { feed, events };
};

test('each change of an update is one entry, newest first, with who made it', async (t) => {
  const { events } = adaHistory();
  await spec.given(events).then(t, (sql) => historyPage(sql, ada, { limit: 50, after: null }), {
    items: newestFirst(...events),
    next: null,
  });
  await spec
    .given(events)
    .then(t, (sql) => historyPage(sql, bob, { limit: 50, after: null }), { items: [], next: null });
});

test('pages follow each other through the cursor, inside an event too', async (t) => {
  const { events } = adaHistory();
  const all = newestFirst(...events);
  const [second, third] = events.slice(1);
  // Newest first: (third, seq 0), (second, seq 1), (second, seq 0), (first, seq 0).
  await spec.given(events).then(t, (sql) => historyPage(sql, ada, { limit: 2, after: null }), {
    items: all.slice(0, 2),
    next: { position: second!.position, seq: 1 },
  });
  await spec
    .given(events)
    .then(t, (sql) => historyPage(sql, ada, { limit: 2, after: { position: second!.position, seq: 1 } }), {
      items: all.slice(2),
      next: null,
    });
  await spec
    .given(events)
    .then(t, (sql) => historyPage(sql, ada, { limit: 1, after: { position: third!.position, seq: 0 } }), {
      items: all.slice(1, 2),
      next: { position: second!.position, seq: 1 },
    });
});

test('a redelivered or redriven update is recorded once', async (t) => {
  const { events } = adaHistory();
  const [first, second, third] = events;
  const expected = { items: newestFirst(...events), next: null };
  await spec
    .given([first!, first!, second!])
    .when([third!, second!])
    .when(events)
    .then(t, (sql) => historyPage(sql, ada, { limit: 50, after: null }), expected);
  await spec
    .given(events)
    .redrive([second!, first!])
    .then(t, (sql) => historyPage(sql, ada, { limit: 50, after: null }), expected);
  await spec
    .given(events)
    .redrive(events)
    .then(t, async (sql) => (await spec.rows('profile_history')(sql)).length, 4);
});

test("users' histories are their own; other events are not read", async (t) => {
  const { feed, events } = adaHistory();
  const bobs = feed.append(schema.profileStreamId(bob), [
    updated(bob, 4, { field: 'visibility', from: 'members', to: 'public' }),
  ]);
  const level = feed.append(schema.experienceLevelStreamId(admin), [
    {
      type: 'profile.ExperienceLevelDefined',
      data: { levelId: admin, code: 'beginner', label: 'Beginner', rank: 1, definedAt: at(5) },
    },
  ]);
  const mixed = [...events, ...bobs, ...level];
  await spec.given(mixed).then(t, (sql) => historyPage(sql, bob, { limit: 50, after: null }), {
    items: newestFirst(...bobs),
    next: null,
  });
  await spec.given(mixed).then(t, async (sql) => (await spec.rows('profile_history')(sql)).length, 5);
});

test('values are kept as written, quotes, escapes and all; a field changed twice in one update counts once', async (t) => {
  const feed = eventFeed();
  const stream = schema.profileStreamId(ada);
  const awkward = 'it\'s "quoted", back\\slash, tab\there,\nnew line, ünïcødé ✓ 🎓, \\N and \\.';
  const events = [
    ...feed.append(stream, [
      updated(
        ada,
        1,
        { field: 'bio', from: null, to: awkward },
        { field: 'displayName', from: null, to: '' },
        { field: 'bio', from: awkward, to: 'a second change of bio in the same update' },
      ),
    ]),
    ...feed.append(stream, [updated(ada, 2, { field: 'bio', from: awkward, to: null })], {
      actor: { userId: null, roles: ['system'] },
    }),
  ];
  const [first, second] = events;
  await spec.given(events).then(t, (sql) => historyPage(sql, ada, { limit: 50, after: null }), {
    items: [
      {
        field: 'bio',
        oldValue: awkward,
        newValue: null,
        changedAt: at(2),
        actorId: null,
        eventId: second!.id,
      },
      {
        field: 'displayName',
        oldValue: null,
        newValue: '',
        changedAt: at(1),
        actorId: null,
        eventId: first!.id,
      },
      {
        field: 'bio',
        oldValue: null,
        newValue: awkward,
        changedAt: at(1),
        actorId: null,
        eventId: first!.id,
      },
    ],
    next: null,
  });
});
