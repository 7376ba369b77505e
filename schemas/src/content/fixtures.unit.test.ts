import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { decodeEvent, latestVersion } from '../catalogue.ts';
import { contentEvents } from './events.ts';

/**
 * Content's golden fixtures (STYLE.md §17), checked as schemas/src/fixtures.unit.test.ts
 * checks the other contexts': every version of every type has one, and each decodes.
 */
const root = new URL('../../fixtures/content/', import.meta.url).pathname;
const files = readdirSync(root).filter((f) => f.endsWith('.json'));

test('every content event version has a golden fixture', (t) => {
  const expected = Object.entries(contentEvents).flatMap(([type, versions]) =>
    versions.map((v) => `${type}.v${v.version}.json`),
  );
  t.deepEqual(files.sort(), expected.sort());
});

for (const file of files)
  test(`${file} decodes to the newest version`, (t) => {
    const fixture = JSON.parse(readFileSync(join(root, file), 'utf8')) as {
      type: string;
      schemaVersion: number;
      data: unknown;
    };
    const decoded = decodeEvent(contentEvents, fixture.type, fixture.schemaVersion, fixture.data);
    t.true(decoded.ok, JSON.stringify(decoded));
    if (decoded.ok) t.is(decoded.value.schemaVersion, latestVersion(contentEvents, fixture.type));
  });

test('a broken content event does not decode, and says where', (t) => {
  const decoded = decodeEvent(contentEvents, 'content.MaterialAdded', 1, {
    courseId: 'nope',
    sectionId: '1f2e3d4c-5b6a-4798-8a1b-2c3d4e5f6071',
    materialId: '2a3b4c5d-6e7f-4081-9a2b-3c4d5e6f7081',
    title: '',
    kind: 'hologram',
    assetId: null,
    body: null,
    addedAt: '2026-03-01T10:00:00.000Z',
  });
  t.false(decoded.ok);
  if (!decoded.ok) t.deepEqual(decoded.issues.map((i) => i.path).sort(), ['/courseId', '/kind', '/title']);
});
