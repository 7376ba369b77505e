import test from 'ava';
import { eventFeed, projectionSpec } from '@lectern/infra/testing/projection-spec';
import { profile as schema } from '@lectern/schemas';
import {
  activeExperienceLevelCodes,
  experienceLevels,
  experienceLevelsProjection,
  type ExperienceLevelDocument,
} from './index.ts';

const spec = projectionSpec(experienceLevelsProjection);
test.after.always(() => spec.close());

const at = (minute: number) => `2026-02-01T10:${String(minute).padStart(2, '0')}:00.000Z`;
const ids = {
  beginner: '1b4e28ba-2fa1-5d2e-8f4b-2a1c3d4e5f60',
  expert: '2c5f39cb-3fb2-5e3f-9a5c-3b2d4e5f6a71',
  intermediate: '3d6a4adc-4ac3-5f4a-8b6d-4c3e5f6a7b82',
};
type Code = keyof typeof ids;

const defined = (code: Code, rank: number, minute: number): schema.ExperienceLevelStreamEvent => ({
  type: 'profile.ExperienceLevelDefined',
  data: {
    levelId: ids[code],
    code,
    label: code[0]!.toUpperCase() + code.slice(1),
    rank,
    definedAt: at(minute),
  },
});
const level = (code: Code, rank: number, minute: number): ExperienceLevelDocument => ({
  levelId: ids[code],
  code,
  label: code[0]!.toUpperCase() + code.slice(1),
  rank,
  status: 'active',
  updatedAt: at(minute),
});

/** Beginner (1), expert (3), intermediate (2), each in its own stream, as admins define them. */
const levels = () => {
  const feed = eventFeed();
  const define = (code: Code, rank: number, minute: number) =>
    feed.append(schema.experienceLevelStreamId(ids[code]), [defined(code, rank, minute)]);
  return {
    feed,
    events: [...define('beginner', 1, 1), ...define('expert', 3, 2), ...define('intermediate', 2, 3)],
  };
};
const all = (sql: Parameters<typeof experienceLevels>[0]) => experienceLevels(sql, { includeRetired: true });
const active = (sql: Parameters<typeof experienceLevels>[0]) =>
  experienceLevels(sql, { includeRetired: false });

test('defined levels are listed by rank; their codes are the active ones', async (t) => {
  const { events } = levels();
  const expected = [level('beginner', 1, 1), level('intermediate', 2, 3), level('expert', 3, 2)];
  await spec.given(events).then(t, active, expected);
  await spec.given(events).then(t, activeExperienceLevelCodes, ['beginner', 'expert', 'intermediate']);
  await spec.given([]).then(t, all, []);
});

test('a change sets label and rank; a retired level is listed only with the retired', async (t) => {
  const { feed, events } = levels();
  const changes = [
    ...feed.append(schema.experienceLevelStreamId(ids.expert), [
      {
        type: 'profile.ExperienceLevelChanged',
        data: {
          levelId: ids.expert,
          code: 'expert',
          changes: [
            { field: 'label', from: 'Expert', to: 'Advanced' },
            { field: 'rank', from: '3', to: '0' },
          ],
          changedAt: at(4),
        },
      },
    ]),
    ...feed.append(schema.experienceLevelStreamId(ids.beginner), [
      {
        type: 'profile.ExperienceLevelRetired',
        data: { levelId: ids.beginner, code: 'beginner', retiredAt: at(5) },
      },
    ]),
  ];
  const expert = { ...level('expert', 0, 4), label: 'Advanced' };
  const retired = { ...level('beginner', 1, 1), status: 'retired' as const, updatedAt: at(5) };
  await spec
    .given(events)
    .when(changes)
    .then(t, active, [expert, level('intermediate', 2, 3)]);
  await spec
    .given(events)
    .when(changes)
    .then(t, all, [expert, retired, level('intermediate', 2, 3)]);
  await spec.given(events).when(changes).then(t, activeExperienceLevelCodes, ['expert', 'intermediate']);
});

test('a change or retirement of a level never defined makes no level', async (t) => {
  const feed = eventFeed();
  const stream = schema.experienceLevelStreamId(ids.expert);
  const orphans = feed.append(stream, [
    {
      type: 'profile.ExperienceLevelChanged',
      data: {
        levelId: ids.expert,
        code: 'expert',
        changes: [{ field: 'rank', from: '3', to: '4' }],
        changedAt: at(1),
      },
    },
    {
      type: 'profile.ExperienceLevelRetired',
      data: { levelId: ids.expert, code: 'expert', retiredAt: at(2) },
    },
  ]);
  await spec.given(orphans).then(t, all, []);
  await spec.given(orphans).then(t, spec.rows('experience_levels'), []);
});

test('a redelivered event changes nothing, even after newer ones', async (t) => {
  const { feed, events } = levels();
  const stream = schema.experienceLevelStreamId(ids.expert);
  const [relabelled, retired] = feed.append(stream, [
    {
      type: 'profile.ExperienceLevelChanged',
      data: {
        levelId: ids.expert,
        code: 'expert',
        changes: [{ field: 'label', from: 'Expert', to: 'Advanced' }],
        changedAt: at(4),
      },
    },
    {
      type: 'profile.ExperienceLevelRetired',
      data: { levelId: ids.expert, code: 'expert', retiredAt: at(5) },
    },
  ]);
  const expert = {
    ...level('expert', 3, 2),
    label: 'Advanced',
    status: 'retired' as const,
    updatedAt: at(5),
  };
  const expected = [level('beginner', 1, 1), level('intermediate', 2, 3), expert];
  await spec
    .given(events)
    .when([relabelled!, retired!, relabelled!])
    .when([...events, retired!])
    .then(t, all, expected);
  // One document per code, holding the event it reflects.
  await spec
    .given(events)
    .when([relabelled!, retired!])
    .when([relabelled!])
    .then(
      t,
      async (sql) =>
        (await spec.rows<{ id: string; revision: number; position: number }>('experience_levels')(sql)).map(
          (r) => [r.id, r.revision, r.position],
        ),
      [
        ['beginner', 0, 1],
        ['expert', 2, retired!.position],
        ['intermediate', 0, 3],
      ],
    );
});
