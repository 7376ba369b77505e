import test from 'ava';
import type { RecordedEvent } from '@lectern/schemas';
import { decodeEvent } from '@lectern/schemas/catalogue';
import { contentEvents, courseStreamId } from '@lectern/schemas/content/index';
import { evolveEntry, type CatalogueEntry } from '@lectern/content-projection-catalogue';
import { generatedCatalogue, misspelt, random, withoutAccents } from './content-data.ts';

test('a seed gives the same catalogue; another seed another', (t) => {
  t.deepEqual(generatedCatalogue(1).course(42), generatedCatalogue(1).course(42));
  t.notDeepEqual(generatedCatalogue(1).course(42).events, generatedCatalogue(2).course(42).events);
});

test('every generated event is a valid content event, and the catalogue folds each course as generated', (t) => {
  const catalogue = generatedCatalogue(1);
  const statuses = new Map<string, number>();
  for (let i = 0; i < 200; i++) {
    const c = catalogue.course(i);
    let entry: CatalogueEntry | null = null;
    c.events.forEach((e, revision) => {
      const decoded = decodeEvent(contentEvents, e.type, e.schemaVersion, e.data);
      t.true(decoded.ok, `${e.type}: ${JSON.stringify(decoded)}`);
      const recorded: RecordedEvent = {
        ...e,
        streamId: courseStreamId(c.courseId),
        revision,
        position: revision + 1,
      };
      entry = evolveEntry(entry, recorded);
    });
    const folded = entry as CatalogueEntry | null;
    t.is(folded?.status, c.status);
    t.is(
      folded?.sections.reduce((n, s) => n + s.materials.length, 0),
      c.materials,
    );
    t.deepEqual(folded?.tags, c.tags);
    statuses.set(c.status, (statuses.get(c.status) ?? 0) + 1);
  }
  t.true((statuses.get('published') ?? 0) > 100, 'most courses are published');
});

test('the most common word is in nearly every course, a rare one in few', (t) => {
  const catalogue = generatedCatalogue(1);
  const texts = Array.from({ length: 300 }, (_, i) =>
    JSON.stringify(catalogue.course(i).events).toLowerCase(),
  );
  const holding = (w: string) => texts.filter((x) => new RegExp(`\\b${w}\\b`).test(x)).length;
  t.true(holding(catalogue.vocabulary[0]!) > 250);
  t.true(holding(catalogue.vocabulary[4000]!) < 30);
});

test('typos and accents are what a learner would type', (t) => {
  t.is(withoutAccents('crème brûlée'), 'creme brulee');
  const typo = misspelt('introduction', random(3));
  t.is(typo.length, 'introduction'.length);
  t.not(typo, 'introduction');
  t.is(typo[0], 'i');
  t.is(typo.at(-1), 'n');
});
