import { eventRow, utcDay, type EventRow } from '@lectern/analytics-projection-events/schema';
import {
  addDays,
  COURSE_COMPLETED_TYPES,
  COURSE_STARTED_TYPES,
  daysFrom,
  mondayOf,
  monthOf,
  monthsFrom,
  nextMonth,
  weeksFrom,
  type ActiveUsersParams,
  type CourseCompletionParams,
  type FunnelParams,
  type RetentionParams,
} from './reports.ts';

/*
 * Test data for the reports, and what each report must answer on it,
 * computed here in plain JavaScript from the generated events: the SQL is
 * checked against an independent reading of each definition, not against
 * itself.
 */

/** A small deterministic PRNG (mulberry32): the same seed, the same data, on every machine. */
const prng = (seed: number) => {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    chance: (p: number) => next() < p,
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!,
  };
};

const DAY = 86_400_000;
const ms = (day: string) => Date.parse(`${day}T00:00:00Z`);

export const SOURCES = ['web', 'ios', 'android'] as const;
export const COURSES = ['c-1', 'c-2', 'c-3', "c-'4"] as const;
export const FUNNEL_STEPS = ['signup.viewed', 'signup.submitted', 'signup.verified'] as const;

export type Fixture = Readonly<{
  /** Every distinct event once. */
  events: readonly EventRow[];
  /** Inserts in order: the events, then copies of some of them (redeliveries and replays). */
  inserts: readonly (readonly EventRow[])[];
  /** The days the data covers, `first` to `last`. */
  first: string;
  last: string;
}>;

/**
 * Users active over `days` days from `start`, some seen first before the
 * reports' ranges and some after; page views, lessons, course starts and
 * completions (with restarts and completions without a start), sign-up
 * funnels (in order, out of order, too slow, within one second), domain
 * events, anonymous events, events a millisecond either side of midnight
 * UTC. Then about a fifth of the events again, in later inserts with a
 * later ingestion time, as the log would redeliver them.
 */
export const generateFixture = (
  opts: Readonly<{ seed?: number; users?: number; start?: string; days?: number }> = {},
): Fixture => {
  const r = prng(opts.seed ?? 42);
  const start = opts.start ?? '2024-01-15';
  const days = opts.days ?? 120;
  const events: EventRow[] = [];
  let id = 0;
  const add = (e: Omit<Parameters<typeof eventRow>[0], 'event_id'>) =>
    events.push(eventRow({ ...e, event_id: `ev-${(id++).toString().padStart(6, '0')}` }, 1_000));

  const users = opts.users ?? 80;
  for (let u = 0; u < users; u++) {
    const user = `user-${u}`;
    const source = r.pick(SOURCES);
    const firstDay = r.int(days - 10);
    const activity = 0.15 + r.next() * 0.6;
    for (let d = firstDay; d < days; d++) {
      if (d !== firstDay && !r.chance(activity)) continue;
      const dayStart = ms(start) + d * DAY;
      const n = 1 + r.int(4);
      for (let i = 0; i < n; i++) {
        // A few events a millisecond either side of midnight: the day is the UTC one.
        const edge = r.chance(0.05);
        const t = edge ? dayStart + (r.chance(0.5) ? 0 : DAY - 1) : dayStart + r.int(DAY);
        add({
          type: r.pick(['page.viewed', 'page.viewed', 'lesson.completed']),
          user_id: user,
          source: r.chance(0.85) ? source : r.pick(SOURCES),
          occurred_at: t,
          payload: JSON.stringify({ page: r.int(20) }),
        });
      }
      if (r.chance(0.08)) {
        const course = r.pick(COURSES);
        const t = dayStart + r.int(DAY);
        if (r.chance(0.9))
          add({
            type: COURSE_STARTED_TYPES[0]!,
            user_id: user,
            source,
            occurred_at: t,
            payload: JSON.stringify({ courseId: course }),
          });
        if (r.chance(0.5))
          add({
            type: COURSE_COMPLETED_TYPES[0]!,
            user_id: user,
            source,
            occurred_at: t + r.int(20) * DAY,
            payload: JSON.stringify({ courseId: course, score: r.int(100) }),
          });
      }
      if (r.chance(0.05)) {
        // A sign-up funnel: gaps from none (same second) to more than a day, sometimes out of order.
        const t0 = dayStart + r.int(DAY);
        const gap = () => r.pick([0, 0, 400, 1_000, 30_000, 3_600_000, 90_000_000]);
        const t1 = t0 + gap();
        const t2 = t1 + gap();
        const swap = r.chance(0.15);
        add({ type: FUNNEL_STEPS[0], user_id: user, source, occurred_at: t0 });
        if (r.chance(0.8))
          add({ type: FUNNEL_STEPS[1], user_id: user, source, occurred_at: swap ? t0 - 2_000 : t1 });
        if (r.chance(0.7)) add({ type: FUNNEL_STEPS[2], user_id: user, source, occurred_at: t2 });
      }
    }
    if (r.chance(0.3))
      add({
        kind: 'domain',
        type: 'identity.UserRegistered',
        user_id: user,
        source: 'identity',
        occurred_at: ms(start) + firstDay * DAY + r.int(DAY),
        stream_id: `user-${u}`,
        payload: JSON.stringify({ userId: user }),
      });
  }
  // Anonymous events: no user, so no one's activity.
  for (let i = 0; i < 50; i++)
    add({ type: 'page.viewed', source: 'web', occurred_at: ms(start) + r.int(days * DAY), payload: '{}' });

  const copies = events.filter(() => r.chance(0.2)).map((e) => ({ ...e, ingested_at: 2_000 }));
  const half = Math.floor(copies.length / 2);
  return {
    events,
    inserts: [events, copies.slice(0, half), copies.slice(half)],
    first: start,
    last: addDays(start, days - 1),
  };
};

/* What each report must answer, from the events alone. */

const inRange = (day: string, from: string, to: string) => day >= from && day <= to;

const activeUsersIn = (events: readonly EventRow[], p: ActiveUsersParams, first: string, last: string) => {
  const byUser = new Map<string, Set<string>>();
  for (const e of events) {
    if (!e.user_id) continue;
    if (p.source && !p.source.includes(e.source)) continue;
    if (p.type && !p.type.includes(e.type)) continue;
    if (p.kind && p.kind !== e.kind) continue;
    const d = utcDay(e.occurred_at);
    if (!inRange(d, first, last)) continue;
    (byUser.get(e.user_id) ?? byUser.set(e.user_id, new Set()).get(e.user_id)!).add(d);
  }
  return byUser;
};

const perBucket = (
  events: readonly EventRow[],
  p: ActiveUsersParams,
  column: string,
  buckets: readonly string[],
  bucketOf: (day: string) => string,
  last: string,
) => {
  const users = new Map<string, Set<string>>(buckets.map((b) => [b, new Set()]));
  for (const [user, days] of activeUsersIn(events, p, buckets[0]!, last))
    for (const d of days) users.get(bucketOf(d))?.add(user);
  return buckets.map((b) => ({ [column]: b, users: users.get(b)!.size }));
};

export const expectedDau = (events: readonly EventRow[], p: ActiveUsersParams) =>
  perBucket(events, p, 'day', daysFrom(p.from, p.to), (d) => d, p.to);

export const expectedWau = (events: readonly EventRow[], p: ActiveUsersParams) => {
  const weeks = weeksFrom(p.from, p.to);
  return perBucket(events, p, 'week', weeks, mondayOf, addDays(weeks[weeks.length - 1]!, 6));
};

export const expectedMau = (events: readonly EventRow[], p: ActiveUsersParams) => {
  const months = monthsFrom(p.from, p.to);
  return perBucket(events, p, 'month', months, monthOf, addDays(nextMonth(months[months.length - 1]!), -1));
};

export const expectedRetention = (events: readonly EventRow[], p: RetentionParams) => {
  const firstSeen = new Map<string, string>();
  const active = new Map<string, Set<string>>();
  for (const e of events) {
    if (!e.user_id) continue;
    const d = utcDay(e.occurred_at);
    const f = firstSeen.get(e.user_id);
    if (f === undefined || d < f) firstSeen.set(e.user_id, d);
    (active.get(e.user_id) ?? active.set(e.user_id, new Set()).get(e.user_id)!).add(d);
  }
  return daysFrom(p.from, p.to).flatMap((cohort) => {
    const members = [...firstSeen].filter(([, f]) => f === cohort).map(([u]) => u);
    return [...p.days]
      .sort((a, b) => a - b)
      .map((n) => {
        const retained = members.filter((u) => active.get(u)!.has(addDays(cohort, n))).length;
        return {
          cohort_day: cohort,
          cohort_users: members.length,
          day: n,
          retained_users: retained,
          rate: members.length === 0 ? 0 : retained / members.length,
        };
      });
  });
};

export const expectedCourseCompletion = (events: readonly EventRow[], p: CourseCompletionParams) => {
  const key = (course: string, user: string) => JSON.stringify([course, user]);
  const firstStart = new Map<string, string>();
  const completed = new Set<string>();
  for (const e of events) {
    if (!e.user_id) continue;
    const started = COURSE_STARTED_TYPES.includes(e.type);
    if (!started && !COURSE_COMPLETED_TYPES.includes(e.type)) continue;
    const d = utcDay(e.occurred_at);
    if (d > p.to) continue;
    const course = (JSON.parse(e.payload) as { courseId?: unknown }).courseId;
    if (typeof course !== 'string' || course === '') continue;
    if (p.course && !p.course.includes(course)) continue;
    const k = key(course, e.user_id);
    if (!started) completed.add(k);
    else if (!firstStart.has(k) || d < firstStart.get(k)!) firstStart.set(k, d);
  }
  const per = new Map<string, { started: number; completed: number }>();
  for (const [k, d] of firstStart) {
    if (d < p.from) continue;
    const [course] = JSON.parse(k) as [string, string];
    const c = per.get(course) ?? per.set(course, { started: 0, completed: 0 }).get(course)!;
    c.started += 1;
    if (completed.has(k)) c.completed += 1;
  }
  return [...per]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([course_id, c]) => ({ course_id, ...c, completion_rate: c.completed / c.started }));
};

/**
 * The funnel by its definition: a user reaches step L when some step-1
 * event starts a chain of steps 1…L, each in a second no earlier than the
 * one before, the last at most `window` seconds after the first. From each
 * start the earliest possible next step is the best choice, so the chain is
 * built greedily.
 */
export const expectedFunnel = (events: readonly EventRow[], p: FunnelParams) => {
  const seconds = new Map<string, number[][]>();
  for (const e of events) {
    if (!e.user_id || !inRange(utcDay(e.occurred_at), p.from, p.to)) continue;
    if (p.source && !p.source.includes(e.source)) continue;
    const step = p.steps.indexOf(e.type);
    if (step < 0) continue;
    const per =
      seconds.get(e.user_id) ??
      seconds
        .set(
          e.user_id,
          p.steps.map(() => []),
        )
        .get(e.user_id)!;
    per[step]!.push(Math.floor(e.occurred_at / 1000));
  }
  const reached = p.steps.map(() => 0);
  for (const per of seconds.values()) {
    let level = 0;
    for (const start of per[0]!) {
      let at = start;
      let l = 1;
      for (let j = 1; j < p.steps.length; j++) {
        const next = per[j]!.filter((s) => s >= at).sort((a, b) => a - b)[0];
        if (next === undefined || next - start > p.window) break;
        at = next;
        l += 1;
      }
      level = Math.max(level, l);
    }
    for (let i = 0; i < level; i++) reached[i]! += 1;
  }
  return p.steps.map((type, i) => ({ step: i + 1, type, users: reached[i]! }));
};
