import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { decodeEvent, latestVersion, type EventCatalogue } from './catalogue.ts';
import { profileEvents } from './profile/events.ts';
import { identityEvents } from './identity/events.ts';
import { pdfReportEvents } from './analytics/pdf-reports.ts';
import { chatEvents } from './chat/events.ts';

/**
 * Golden fixtures (STYLE.md §14): every stored version of every event type
 * has a JSON file that must keep decoding, and upcasting, to the newest
 * version. A change that breaks an old event breaks this test.
 */
const catalogues: Record<string, EventCatalogue> = {
  profile: profileEvents,
  identity: identityEvents,
  analytics: pdfReportEvents,
  chat: chatEvents,
};
const root = new URL('../fixtures/', import.meta.url).pathname;

for (const [context, catalogue] of Object.entries(catalogues)) {
  const files = readdirSync(join(root, context)).filter((f) => f.endsWith('.json'));

  test(`${context}: every event version has a golden fixture`, (t) => {
    const expected = Object.entries(catalogue).flatMap(([type, versions]) =>
      versions.map((v) => `${type}.v${v.version}.json`),
    );
    t.deepEqual(files.sort(), expected.sort());
  });

  for (const file of files) {
    test(`${context}: ${file} decodes to the newest version`, (t) => {
      const fixture = JSON.parse(readFileSync(join(root, context, file), 'utf8')) as {
        type: string;
        schemaVersion: number;
        data: unknown;
      };
      const decoded = decodeEvent(catalogue, fixture.type, fixture.schemaVersion, fixture.data);
      t.true(decoded.ok, JSON.stringify(decoded));
      if (decoded.ok) t.is(decoded.value.schemaVersion, latestVersion(catalogue, fixture.type));
    });
  }
}

test('a fixture with a broken field does not decode, and says where', (t) => {
  const decoded = decodeEvent(profileEvents, 'profile.ProfileUpdated', 1, {
    userId: 'not-a-uuid',
    changes: [{ field: 'shoeSize', from: null, to: '42' }],
    updatedAt: 'yesterday',
  });
  t.false(decoded.ok);
  if (!decoded.ok)
    t.deepEqual(decoded.issues.map((i) => i.path).sort(), ['/changes/0/field', '/updatedAt', '/userId']);
});

test('an unknown version or type is refused', (t) => {
  t.false(decodeEvent(profileEvents, 'profile.ProfileUpdated', 7, {}).ok);
  t.false(decodeEvent(profileEvents, 'profile.Nope', 1, {}).ok);
});
