import { createHash } from 'node:crypto';
import test from 'ava';
import type { EventRow } from '@lectern/analytics-projection-events/schema';
import { DAY_MS, dataPlan, emptyTotals, generateEvents, prng, type DataPlan } from './analytics-data.ts';

const all = (plan: DataPlan) => {
  const totals = emptyTotals();
  const batches = [...generateEvents(plan, totals)];
  return { totals, batches, rows: batches.flat() };
};

const digest = (rows: readonly EventRow[]): string => {
  const h = createHash('sha256');
  for (const r of rows) h.update(JSON.stringify(r));
  return h.digest('hex');
};

const plan = dataPlan(40_000, { batchRows: 7_000 });
const { totals, batches, rows } = all(plan);

test('the same plan gives the same rows; another seed gives others', (t) => {
  t.is(digest(all(plan).rows), digest(rows));
  t.not(digest(all({ ...plan, seed: plan.seed + 1 }).rows), digest(rows));
});

test('the prng is uniform enough and repeatable', (t) => {
  const a = prng(7);
  const b = prng(7);
  const xs = Array.from({ length: 100_000 }, () => a());
  t.deepEqual(
    Array.from({ length: xs.length }, () => b()),
    xs,
    'same seed, same sequence',
  );
  const buckets = new Array<number>(10).fill(0);
  for (const x of xs) {
    if (x !== Math.floor(x) || x < 0 || x >= 2 ** 32) t.fail(`not a uint32: ${x}`);
    buckets[Math.floor((x / 2 ** 32) * 10)]!++;
  }
  for (const n of buckets) t.true(Math.abs(n - 10_000) < 500, `bucket ${n}`);
});

test('the stream is near its target size, in batches no larger than asked', (t) => {
  t.is(totals.rows, rows.length);
  t.true(Math.abs(rows.length - plan.targetRows) / plan.targetRows < 0.05, `${rows.length} rows`);
  for (const b of batches.slice(0, -1)) t.is(b.length, plan.batchRows);
  t.true(batches.at(-1)!.length <= plan.batchRows);
  t.is(totals.users, plan.users);
});

test('every row is a complete events row inside the period', (t) => {
  const end = plan.startMs + (plan.days + 1) * DAY_MS;
  for (const r of rows) {
    if (r.occurred_at < plan.startMs || r.occurred_at >= end) t.fail(`${r.occurred_at} outside the period`);
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(r.event_id))
      t.fail(`event id ${r.event_id}`);
    if (r.kind !== 'telemetry' || r.user_id === '' || r.stream_id !== '' || r.schema_version !== 1)
      t.fail(JSON.stringify(r));
    JSON.parse(r.payload);
  }
  t.deepEqual(Object.keys(rows[0]!).sort(), [
    'event_id',
    'ingested_at',
    'kind',
    'occurred_at',
    'payload',
    'schema_version',
    'source',
    'stream_id',
    'type',
    'user_id',
  ]);
});

test('copies share everything but a later ingested_at, and are counted', (t) => {
  const byId = new Map<string, EventRow[]>();
  for (const r of rows) byId.set(r.event_id, [...(byId.get(r.event_id) ?? []), r]);
  t.is(byId.size, totals.events);
  const copies = [...byId.values()].filter((xs) => xs.length > 1);
  t.is(copies.length, totals.duplicates);
  t.true(totals.duplicates > 0.005 * totals.events && totals.duplicates < 0.02 * totals.events);
  for (const [first, copy] of copies) {
    t.true(copy!.ingested_at > first!.ingested_at);
    t.deepEqual({ ...copy, ingested_at: 0 }, { ...first, ingested_at: 0 });
  }
});

test('users go through the sign-up funnel in order, and only the verified learn', (t) => {
  const byUser = new Map<string, EventRow[]>();
  for (const r of rows) byUser.set(r.user_id, [...(byUser.get(r.user_id) ?? []), r]);
  t.is(byUser.size, plan.users);
  const steps = ['signup.viewed', 'signup.submitted', 'signup.verified'];
  let verified = 0;
  for (const events of byUser.values()) {
    const funnel = steps.map((s) => events.find((e) => e.type === s));
    t.truthy(funnel[0]);
    if (funnel[2]) verified++;
    for (let i = 1; i < 3; i++) {
      if (funnel[i] && !(funnel[i - 1] && funnel[i - 1]!.occurred_at < funnel[i]!.occurred_at))
        t.fail(`${steps[i]} without ${steps[i - 1]} before it`);
    }
    const learning = events.filter((e) => e.type.startsWith('course.') || e.type === 'lesson.completed');
    if (!funnel[2] && learning.length > 0) t.fail('an unverified user learned');
    if (funnel[2] && learning.some((e) => e.occurred_at < funnel[2]!.occurred_at))
      t.fail('learning before verification');
  }
  t.is(verified, totals.funnel.verified);
  t.true(totals.funnel.viewed > totals.funnel.submitted && totals.funnel.submitted > totals.funnel.verified);
});

test('course events name their course, and a lesson follows a start of that course', (t) => {
  const started = new Map<string, Set<string>>();
  const seen = new Map<string, number>();
  const ordered = [...rows].sort((a, b) => a.occurred_at - b.occurred_at);
  for (const r of ordered) {
    seen.set(r.type, (seen.get(r.type) ?? 0) + 1);
    if (!r.type.startsWith('course.') && r.type !== 'lesson.completed') continue;
    const { courseId } = JSON.parse(r.payload) as { courseId?: string };
    if (!courseId || !/^course-\d{4}$/.test(courseId)) t.fail(r.payload);
    const mine = started.get(r.user_id) ?? new Set<string>();
    if (r.type === 'course.started') started.set(r.user_id, mine.add(courseId!));
    if ((r.type === 'lesson.completed' || r.type === 'course.completed') && !mine.has(courseId!))
      t.fail(`${r.type} of ${courseId} never started`);
  }
  for (const type of [
    'course.viewed',
    'course.started',
    'lesson.completed',
    'course.completed',
    'page.viewed',
  ])
    t.true((seen.get(type) ?? 0) > 0, type);
});

test('retention decays: fewer users come back after a month than after a day', (t) => {
  const days = new Map<string, Set<number>>();
  for (const r of rows) {
    const d = Math.floor((r.occurred_at - plan.startMs) / DAY_MS);
    days.set(r.user_id, (days.get(r.user_id) ?? new Set()).add(d));
  }
  const back = (n: number) =>
    [...days.values()].filter((ds) => {
      const first = Math.min(...ds);
      return first + n < plan.days - 1 && ds.has(first + n);
    }).length;
  t.true(back(1) > back(30), `day 1: ${back(1)}, day 30: ${back(30)}`);
  t.true(back(30) > 0);
});
