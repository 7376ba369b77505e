import { createHash } from 'node:crypto';
import type { NewEvent } from '@lectern/schemas';
import type * as schema from '@lectern/schemas/content/index';

/**
 * A generated catalogue for the content bench: courses with sections,
 * materials, tags and a workflow state, as the events a course stream holds,
 * from a seed (the same seed gives the same catalogue).
 *
 * Words follow a Zipf law over a vocabulary of 100 common course words, 5000
 * made-up words and a few accented ones, so a search can ask for a word most
 * courses hold, one a few hundred hold, or one almost none hold, as real
 * queries do.
 */

/** mulberry32: small, fast and good enough to spread generated data. */
export const random = (seed: number): (() => number) => {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
};

const COMMON = `introduction advanced data design systems programming web development learning python
  javascript course basics fundamentals guide practical modern architecture security cloud network
  databases analytics machine models testing performance mobile apps interface user experience
  project management business marketing finance accounting writing language english history science
  mathematics statistics physics chemistry biology music drawing painting photography video audio
  cooking health fitness yoga leadership communication teamwork career skills productivity research
  engineering software hardware devices robotics electronics energy climate economics law policy
  ethics philosophy psychology teaching reading grammar spanish french german japanese chinese art
  theory practice tools workshop`
  .split(/\s+/)
  .filter(Boolean);
const ACCENTED = ['café', 'résumé', 'naïve', 'señor', 'fiancée', 'crème', 'élan', 'über', 'façade', 'déjà'];
const SYLLABLES = 'ka ve lo mi ra tu pe zo ni sa do fe gu li mo ta be ru ko ne'.split(' ');

/** Made-up words of 2–4 syllables, distinct, from `rand`. */
const madeUp = (count: number, rand: () => number): string[] => {
  const words = new Set<string>();
  while (words.size < count) {
    const n = 2 + Math.floor(rand() * 3);
    let w = '';
    for (let i = 0; i < n; i++) w += SYLLABLES[Math.floor(rand() * SYLLABLES.length)]!;
    if (!COMMON.includes(w)) words.add(w);
  }
  return [...words];
};

/** Picks index i of n with probability proportional to 1/(i+1): a Zipf law with exponent 1. */
const zipf = (n: number, rand: () => number): (() => number) => {
  const cumulative = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) cumulative[i] = sum += 1 / (i + 1);
  return () => {
    const x = rand() * sum;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
};

/** A UUID derived from a name, so generated ids are stable across runs of one seed. */
const idOf = (name: string): string => {
  const h = createHash('sha1').update(name).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
};

export type GeneratedCourse = Readonly<{
  courseId: string;
  authorId: string;
  status: schema.CourseStatus;
  tags: readonly string[];
  events: readonly NewEvent[];
  materials: number;
}>;

export type Catalogue = Readonly<{
  /** The vocabulary, most frequent first. */
  vocabulary: readonly string[];
  tags: readonly string[];
  authors: readonly string[];
  course(i: number): GeneratedCourse;
}>;

export const MATERIALS_PER_COURSE = 10;

/**
 * The catalogue of a seed. `course(i)` builds course i on demand (events and
 * all), so a million materials never sit in memory at once.
 */
export const generatedCatalogue = (seed = 1): Catalogue => {
  const setup = random(seed);
  const vocabulary = [...COMMON, ...madeUp(5000, setup)];
  // The accented words sit among the less common ones: rare enough to find a few courses.
  vocabulary.splice(300, 0, ...ACCENTED);
  const tags = madeUp(300, setup).map((w, i) => (i < 40 ? COMMON[i]! : w));
  const authors = Array.from({ length: 5000 }, (_, i) => `bench-author-${i}`);
  const epoch = Date.UTC(2024, 0, 1);

  const course = (i: number): GeneratedCourse => {
    const rand = random(seed * 1_000_003 + i);
    const word = zipf(vocabulary.length, rand);
    const tagOf = zipf(tags.length, rand);
    const words = (n: number) => Array.from({ length: n }, () => vocabulary[word()]!).join(' ');
    const title = (n: number) => {
      const t = words(n);
      return t[0]!.toUpperCase() + t.slice(1);
    };
    const courseId = idOf(`course-${seed}-${i}`);
    const authorId = authors[Math.floor(rand() * authors.length)]!;
    const courseTags = [...new Set(Array.from({ length: 1 + Math.floor(rand() * 3) }, () => tags[tagOf()]!))];
    // Two years of courses, oldest first, ten minutes apart; a second between a course's events.
    let t = epoch + i * 600_000;
    const events: NewEvent[] = [];
    /** Appends an event stamped one second after the one before; `fields(at)` gets that time. */
    const add = (type: string, fields: (at: string) => Record<string, unknown>) => {
      const occurredAt = new Date((t += 1000)).toISOString();
      events.push({
        id: idOf(`event-${seed}-${i}-${events.length}`),
        type,
        schemaVersion: 1,
        occurredAt,
        data: { courseId, ...fields(occurredAt) },
        metadata: {
          correlationId: courseId,
          causationId: null,
          actor: null,
          requestId: null,
          traceparent: null,
        },
      });
    };
    const courseTitle = title(3 + Math.floor(rand() * 4));
    const summary = `${title(15 + Math.floor(rand() * 15))}.`;
    add('content.CourseCreated', (at) => ({
      authorId,
      title: courseTitle,
      summary,
      tags: courseTags,
      createdAt: at,
    }));
    const sectionCount = 2 + Math.floor(rand() * 2);
    const sectionIds = Array.from({ length: sectionCount }, (_, s) => idOf(`section-${seed}-${i}-${s}`));
    for (const sectionId of sectionIds) {
      const sectionTitle = title(2 + Math.floor(rand() * 3));
      add('content.SectionAdded', (at) => ({ sectionId, title: sectionTitle, addedAt: at }));
    }
    for (let m = 0; m < MATERIALS_PER_COURSE; m++) {
      const video = rand() < 0.4;
      const materialTitle = title(2 + Math.floor(rand() * 4));
      const body = video ? null : `${title(30 + Math.floor(rand() * 30))}.`;
      add('content.MaterialAdded', (at) => ({
        sectionId: sectionIds[m % sectionCount]!,
        materialId: idOf(`material-${seed}-${i}-${m}`),
        title: materialTitle,
        kind: video ? 'video' : 'text',
        assetId: video ? idOf(`asset-${seed}-${i}-${m}`) : null,
        body,
        addedAt: at,
      }));
    }
    const roll = rand();
    const status: schema.CourseStatus =
      roll < 0.7 ? 'published' : roll < 0.8 ? 'review' : roll < 0.95 ? 'draft' : 'archived';
    if (status !== 'draft') add('content.CourseSubmittedForReview', (at) => ({ submittedAt: at }));
    if (status === 'published' || status === 'archived')
      add('content.CoursePublished', (at) => ({ authorId, title: courseTitle, publishedAt: at }));
    if (status === 'archived') add('content.CourseArchived', (at) => ({ from: 'published', archivedAt: at }));
    return { courseId, authorId, status, tags: courseTags, events, materials: MATERIALS_PER_COURSE };
  };

  return { vocabulary, tags, authors, course };
};

/** Strips accents, as a learner typing on a keyboard without them would. */
export const withoutAccents = (w: string): string => w.normalize('NFD').replace(/\p{M}/gu, '');

/** `w` with one letter changed in its middle: a typo. */
export const misspelt = (w: string, rand: () => number): string => {
  const i = 1 + Math.floor(rand() * (w.length - 2));
  const swap = w[i] === 'a' ? 'e' : 'a';
  return w.slice(0, i) + swap + w.slice(i + 1);
};
