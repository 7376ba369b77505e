import { randomUUID } from 'node:crypto';
import { client, pacedRun, recorder, type Client, type Plan } from './measure.ts';
import { errorRateBelow, p95Within } from './thresholds.ts';

/** Requests per second: a catalogue that 2 cores serve with room to spare. */
export const CONTENT_RATE = 50;
export const CONTENT_QUICK_RATE = 10;

const STEPS = ['search', 'detail', 'edit'] as const;
/** Words the titles and summaries are made of, so every search finds something. */
const WORDS = [
  'algebra',
  'biology',
  'chemistry',
  'design',
  'economics',
  'french',
  'geometry',
  'history',
  'italian',
  'journalism',
  'kotlin',
  'logic',
  'music',
  'nutrition',
  'optics',
  'physics',
  'quantum',
  'rhetoric',
  'statistics',
  'typescript',
] as const;
const word = (i: number): string => WORDS[i % WORDS.length]!;

type Course = Readonly<{ courseId: string; authorToken: string; published: boolean }>;

const token = async (http: Client, roles: string[]): Promise<string> =>
  (await http('POST', '/api/dev/token', { body: { sub: randomUUID(), roles } })).body.token as string;

/**
 * `count` courses by `authors` authors through the API: nine in ten
 * created, submitted and published, the tenth left a draft (a published
 * course is not editable, so the authors' edits go to the drafts). Each is
 * ready once the catalogue answers its detail with its last write (read
 * through that write's consistency token).
 */
const seed = async (http: Client, count: number, authors: number): Promise<Course[]> => {
  const tokens = await Promise.all(Array.from({ length: authors }, () => token(http, ['author'])));
  const courses: Course[] = [];
  const one = async (i: number): Promise<Course> => {
    const author = tokens[i % authors]!;
    const created = await http('POST', '/api/courses', {
      token: author,
      body: {
        title: `${word(i)} and ${word(i * 7 + 3)} ${i}`,
        summary: `An introduction to ${word(i * 3 + 1)} for students of ${word(i)}.`,
        tags: [word(i * 5 + 2)],
      },
      expect: 201,
    });
    const courseId = created.body.courseId as string;
    const published = i % 10 !== 9;
    let last = created;
    if (published) {
      await http('POST', `/api/courses/${courseId}/submit`, { token: author });
      last = await http('POST', `/api/courses/${courseId}/publish`, { token: author });
    }
    const status = published ? 'published' : 'draft';
    // The server waits a bounded while for the catalogue to reach the token, then answers
    // what it has with `X-Consistency: stale` (a busy machine), a 404 if it has not seen the
    // course yet: that is asked again, for up to five minutes. A caught-up answer with
    // another status, or a caught-up 404, is a real fault.
    const until = Date.now() + 300_000;
    for (;;) {
      const read = await http('GET', `/api/courses/${courseId}`, {
        token: author,
        headers: { 'x-consistency-token': last.headers.get('x-consistency-token') ?? '' },
        expect: [200, 404],
      });
      if (read.status === 200 && read.body.status === status) break;
      if (read.headers.get('x-consistency') !== 'stale' || Date.now() > until)
        throw new Error(
          `course ${courseId} reads ${read.status === 404 ? 'as not found' : read.body.status}, not ${status} (${read.headers.get('x-consistency') ?? 'no consistency header'})`,
        );
    }
    return { courseId, authorToken: author, published };
  };
  // A few at a time: seeding is not what is measured, and a flood would only queue.
  const lanes = 8;
  await Promise.all(
    Array.from({ length: lanes }, async (_, lane) => {
      for (let i = lane; i < count; i += lanes) courses.push(await one(i));
    }),
  );
  return courses;
};

/**
 * content: 200 courses by 4 authors (40 by 2 with --quick; one in ten a
 * draft), then a mix of 70 % catalogue searches (anonymous, one word of
 * the titles), 25 % details of published courses (anonymous) and 5 %
 * author edits (`PATCH` of a draft's summary, by its author). Each request
 * is timed from when it was due.
 */
export const contentScenario = async (url: string, plan: Plan) => {
  const http = client(url);
  const courses = await seed(http, plan.quick ? 40 : 200, plan.quick ? 2 : 4);
  const published = courses.filter((c) => c.published);
  const drafts = courses.filter((c) => !c.published);
  const rec = recorder();
  const measured = await pacedRun(
    plan,
    rec,
    async (slot, i) => {
      // Deterministic mix over each 20 iterations: 1 edit, 5 details, 14 searches.
      const kind = i % 20;
      if (kind === 0) {
        const course = drafts[(i / 20) % drafts.length]!;
        await rec.time('edit', slot, slot.due, () =>
          http('PATCH', `/api/courses/${course.courseId}`, {
            token: course.authorToken,
            body: { summary: `Revised ${i}: ${word(i)} for students of ${word(i + 1)}.` },
          }),
        );
      } else if (kind <= 5) {
        const course = published[(i * 7919) % published.length]!;
        await rec.time('detail', slot, slot.due, () => http('GET', `/api/courses/${course.courseId}`));
      } else await rec.time('search', slot, slot.due, () => http('GET', `/api/courses?q=${word(i * 13)}`));
    },
    STEPS,
  );
  return {
    ...measured,
    courses: { published: published.length, drafts: drafts.length },
    thresholds: [p95Within('content', rec.pooled(STEPS).p95), errorRateBelow(measured.errorRate)],
  };
};
