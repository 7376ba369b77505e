import { eventRow, type EventRow } from '@lectern/analytics-projection-events/schema';

/**
 * The analytics bench's data: a deterministic, realistic stream of telemetry
 * rows for the `events` table, generated in batches so that ten million of
 * them never sit in memory at once.
 *
 * The shape, day by day over `days` UTC days:
 * - every user arrives once, on a day of their own, through the sign-up
 *   funnel: `signup.viewed`, then (most) `signup.submitted`, then (most of
 *   those) `signup.verified`, minutes apart;
 * - a verified user has a lifetime (exponential, so retention decays) and an
 *   engagement (the chance of a visit on a given day while alive), and on
 *   their sign-up day always visits;
 * - a visit is a session of a few events minutes apart: `course.viewed`,
 *   `course.started`, `lesson.completed` … `course.completed` (a course has
 *   a length in lessons), `page.viewed`; courses are picked Zipf-like, so a
 *   few are popular; `payload.courseId` names the course;
 * - a small share of rows are copies of an event (same id and content, a
 *   later `ingested_at`), as the log's redelivery makes them.
 *
 * The mean session length is calibrated from the users' drawn lifetimes and
 * engagements so that the stream holds about `targetRows` rows; the exact
 * count is known only once the stream ends (see `GeneratedTotals`).
 *
 * Same plan, same rows: one seeded PRNG drives everything, and no clock or
 * ambient randomness is read.
 */
export type DataPlan = Readonly<{
  seed: number;
  /** Users who reach the sign-up page over the whole period. */
  users: number;
  days: number;
  /** Rows wanted, copies included; the stream ends near it. */
  targetRows: number;
  /** Epoch ms of the first day's midnight, UTC. */
  startMs: number;
  /** Share of events sent twice (0.01 = 1 %). */
  duplicateRate: number;
  /** Rows per yielded batch. */
  batchRows: number;
  courses: number;
}>;

/** What a finished stream held, for the report and for checking query results. */
export type GeneratedTotals = {
  rows: number;
  /** Distinct event ids: rows minus copies. */
  events: number;
  duplicates: number;
  /** Users with at least one event (everyone who reached the sign-up page). */
  users: number;
  verifiedUsers: number;
  funnel: { viewed: number; submitted: number; verified: number };
  sessions: number;
  /** The calibrated mean events per session. */
  meanSessionEvents: number;
};

export const DAY_MS = 86_400_000;

/** The bench's default plan for `rows` rows: 1 user per 50 rows (200k users at 10M) over 90 days. */
export const dataPlan = (rows: number, overrides: Partial<DataPlan> = {}): DataPlan => ({
  seed: 20_250_106,
  users: Math.max(100, Math.round(rows / 50)),
  days: 90,
  targetRows: rows,
  // A Monday, so weeks (`toMonday`) start with the data.
  startMs: Date.UTC(2025, 0, 6),
  duplicateRate: 0.01,
  batchRows: 100_000,
  courses: 400,
  ...overrides,
});

/**
 * sfc32 (Chris Doty-Humphrey's Small Fast Counting generator): 128 bits of
 * state, fast in 32-bit integer arithmetic, and good enough statistically
 * for synthetic data. Seeded through splitmix32 so that nearby seeds give
 * unrelated streams.
 */
export const prng = (seed: number): (() => number) => {
  let s = seed >>> 0;
  const splitmix = (): number => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = splitmix();
  let b = splitmix();
  let c = splitmix();
  let d = splitmix();
  const next = (): number => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) >>> 0;
    return t;
  };
  // The first outputs still carry the seed's structure.
  for (let i = 0; i < 12; i++) next();
  return next;
};

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
const hex32 = (n: number): string =>
  HEX[(n >>> 24) & 255]! + HEX[(n >>> 16) & 255]! + HEX[(n >>> 8) & 255]! + HEX[n & 255]!;

/** A version-4-shaped UUID from four draws (what clients send as event ids). */
const uuid = (next: () => number): string => {
  const a = hex32(next());
  const b = hex32(next());
  const c = hex32(next());
  const d = hex32(next());
  const variant = (8 + (Number.parseInt(c[0]!, 16) & 3)).toString(16);
  return `${a}-${b.slice(0, 4)}-4${b.slice(5)}-${variant}${c.slice(1, 4)}-${c.slice(4)}${d}`;
};

const SOURCES = ['web', 'web', 'web', 'web', 'web', 'web', 'web', 'ios', 'ios', 'android'] as const;
const PAGES = ['/', '/catalog', '/search', '/profile', '/settings', '/help'] as const;
const REFERRERS = ['direct', 'search', 'social', 'newsletter', 'partner'] as const;

/**
 * Generates the rows of `plan` in batches of `plan.batchRows` (the last may
 * be shorter), and fills `totals` as it goes; `totals` is complete when the
 * generator is done.
 *
 * @example
 *   const totals = emptyTotals();
 *   for (const batch of generateEvents(dataPlan(200_000), totals)) await store.insert('events', batch);
 */
export function* generateEvents(
  plan: DataPlan,
  totals: GeneratedTotals = emptyTotals(),
): Generator<EventRow[]> {
  const next = prng(plan.seed);
  const unit = (): number => next() / 4_294_967_296;
  const below = (n: number): number => Math.floor(unit() * n);
  const pick = <T>(xs: readonly T[]): T => xs[below(xs.length)]!;
  const { users, days, courses } = plan;

  // 1. Who the users are: arrival day, how far through the funnel, lifetime, engagement.
  const userIds = Array.from({ length: users }, () => uuid(next));
  const userSource = Array.from({ length: users }, () => pick(SOURCES));
  const arrival = new Uint16Array(users);
  const stage = new Uint8Array(users); // 1 viewed, 2 submitted, 3 verified
  const lastDay = new Int32Array(users); // last day the user may visit (exclusive)
  const engagement = new Float64Array(users);
  const byArrival: number[][] = Array.from({ length: days }, () => []);
  const sessionsPerVisit = 1.2;
  let expectedSessions = 0;
  let funnelEvents = 0;
  for (let u = 0; u < users; u++) {
    // More arrivals later in the period: a growing product.
    const day = Math.min(days - 1, Math.floor(days * Math.sqrt(unit())));
    arrival[u] = day;
    byArrival[day]!.push(u);
    stage[u] = unit() < 0.62 ? (unit() < 0.78 ? 3 : 2) : 1;
    funnelEvents += stage[u]!;
    if (stage[u] === 3) {
      // Mean lifetime of 25 days; a fifth of users stay for good.
      const lifetime = unit() < 0.2 ? days : Math.ceil(-25 * Math.log(1 - unit()));
      lastDay[u] = Math.min(days, day + 1 + lifetime);
      engagement[u] = 0.05 + 0.55 * unit() ** 2;
      // One session on the arrival day; later days visited with the user's
      // chance, a fifth of visits with a second session.
      expectedSessions += 1 + sessionsPerVisit * engagement[u]! * (lastDay[u]! - day - 1);
    }
  }

  // 2. The calibration: sessions of `1 + geometric(mean - 1)` events make the
  // expected row count the target.
  const distinctWanted = plan.targetRows / (1 + plan.duplicateRate);
  const meanSession = Math.max(1, (distinctWanted - funnelEvents) / Math.max(1, expectedSessions));
  const extraP = 1 / meanSession; // geometric on {0, 1, …} with mean meanSession - 1
  const logExtra = Math.log(1 - extraP);
  totals.meanSessionEvents = Math.round(meanSession * 100) / 100;

  // Zipf-like popularity of courses, and their lengths in lessons.
  const courseIds = Array.from({ length: courses }, (_, i) => `course-${String(i + 1).padStart(4, '0')}`);
  const courseLessons = Uint8Array.from({ length: courses }, () => 4 + below(17));
  const zipf = new Float64Array(courses);
  for (let i = 0, sum = 0; i < courses; i++) zipf[i] = sum += 1 / (i + 1);
  const zipfTotal = zipf[courses - 1]!;
  const popularCourse = (): number => {
    const x = unit() * zipfTotal;
    let lo = 0;
    let hi = courses - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (zipf[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const currentCourse = new Int16Array(users).fill(-1);
  const lessonsDone = new Uint8Array(users);
  // When the user's last session ended: a session never starts before that.
  const busyUntil = new Float64Array(users);

  let batch: EventRow[] = [];
  const out: EventRow[][] = [];
  const emit = (u: number, type: string, at: number, payload: string): void => {
    const row = eventRow(
      {
        event_id: uuid(next),
        type,
        user_id: userIds[u]!,
        source: userSource[u]!,
        occurred_at: at,
        payload,
        // Analytics sees an event a few seconds after it happened.
        ingested_at: at + 500 + below(5000),
      },
      0,
    );
    batch.push(row);
    totals.rows++;
    totals.events++;
    if (unit() < plan.duplicateRate) {
      batch.push({ ...row, ingested_at: row.ingested_at + 1000 + below(60_000) });
      totals.rows++;
      totals.duplicates++;
    }
    if (batch.length >= plan.batchRows) {
      out.push(batch);
      batch = [];
    }
  };

  // A time of day in ms, more often in the afternoon and evening.
  const timeOfDay = (): number => {
    const hour = unit() < 0.7 ? 12 + below(11) : below(24);
    return hour * 3_600_000 + below(3_600_000);
  };

  const session = (u: number, startAt: number): void => {
    totals.sessions++;
    const length = 1 + Math.floor(Math.log(1 - unit()) / logExtra);
    let at = Math.max(startAt, busyUntil[u]! + 300_000 + below(3_600_000));
    // A session opens on a course page: the course in progress, or another.
    const inProgress = currentCourse[u]!;
    let viewed = inProgress >= 0 && unit() < 0.7 ? inProgress : popularCourse();
    emit(u, 'course.viewed', at, `{"courseId":"${courseIds[viewed]}"}`);
    for (let i = 1; i < length; i++) {
      at += 20_000 + below(280_000);
      const course = currentCourse[u]!;
      if (course < 0 || (viewed !== course && unit() < 0.3)) {
        // Starts the course just viewed (leaving any other unfinished).
        emit(u, 'course.started', at, `{"courseId":"${courseIds[viewed]}"}`);
        currentCourse[u] = viewed;
        lessonsDone[u] = 0;
      } else if (unit() < 0.7) {
        const lesson = ++lessonsDone[u]!;
        if (lesson <= courseLessons[course]!) {
          emit(u, 'lesson.completed', at, `{"courseId":"${courseIds[course]}","lesson":${lesson}}`);
        } else {
          emit(u, 'course.completed', at, `{"courseId":"${courseIds[course]}"}`);
          currentCourse[u] = -1;
        }
      } else if (unit() < 0.5) {
        viewed = popularCourse();
        emit(u, 'course.viewed', at, `{"courseId":"${courseIds[viewed]}"}`);
      } else {
        emit(u, 'page.viewed', at, `{"path":"${pick(PAGES)}"}`);
      }
    }
    busyUntil[u] = at;
  };

  // 3. Day by day: arrivals through the funnel, then the visits of everyone alive.
  for (let day = 0; day < days; day++) {
    const midnight = plan.startMs + day * DAY_MS;
    for (const u of byArrival[day]!) {
      totals.users++;
      let at = midnight + timeOfDay();
      emit(u, 'signup.viewed', at, `{"referrer":"${pick(REFERRERS)}"}`);
      totals.funnel.viewed++;
      if (stage[u]! >= 2) {
        at += 30_000 + below(600_000);
        emit(u, 'signup.submitted', at, '{"plan":"free"}');
        totals.funnel.submitted++;
      }
      if (stage[u]! >= 3) {
        at += 60_000 + below(3_600_000);
        emit(u, 'signup.verified', at, '{}');
        totals.funnel.verified++;
        totals.verifiedUsers++;
        session(u, at + 10_000 + below(600_000));
      }
    }
    for (let u = 0; u < users; u++) {
      if (stage[u] !== 3 || arrival[u]! >= day || day >= lastDay[u]!) continue;
      if (unit() >= engagement[u]!) continue;
      session(u, midnight + timeOfDay());
      if (unit() < sessionsPerVisit - 1) session(u, midnight + timeOfDay());
    }
    yield* out;
    out.length = 0;
  }
  if (batch.length > 0) yield batch;
}

export const emptyTotals = (): GeneratedTotals => ({
  rows: 0,
  events: 0,
  duplicates: 0,
  users: 0,
  verifiedUsers: 0,
  funnel: { viewed: 0, submitted: 0, verified: 0 },
  sessions: 0,
  meanSessionEvents: 0,
});
