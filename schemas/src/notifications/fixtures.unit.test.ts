import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { decodeEvent, latestVersion } from '../catalogue.ts';
import { notificationEvents } from './catalogue.ts';
import { subscriptionEvents } from './subscriptions.ts';

/**
 * The notifications context's golden fixtures (STYLE.md §17), checked as
 * schemas/src/fixtures.unit.test.ts checks the other contexts'. The folder
 * holds the fixtures of every catalogue of the context, so each is checked
 * against their union, `notificationEvents`: a catalogue that joins it there
 * is covered here.
 */
const root = new URL('../../fixtures/notifications/', import.meta.url).pathname;
const files = readdirSync(root).filter((f) => f.endsWith('.json'));

test('every catalogue of the context is in the union the fixtures are checked against', (t) => {
  for (const type of Object.keys(subscriptionEvents)) t.true(Object.hasOwn(notificationEvents, type), type);
});

test('every notifications event version has a golden fixture, and every fixture is of one', (t) => {
  const expected = Object.entries(notificationEvents).flatMap(([type, versions]) =>
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
    t.is(file, `${fixture.type}.v${fixture.schemaVersion}.json`, 'the file is named for what it holds');
    const decoded = decodeEvent(notificationEvents, fixture.type, fixture.schemaVersion, fixture.data);
    t.true(decoded.ok, JSON.stringify(decoded));
    if (decoded.ok) t.is(decoded.value.schemaVersion, latestVersion(notificationEvents, fixture.type));
  });

test('a broken subscription event does not decode, and says where', (t) => {
  const decoded = decodeEvent(notificationEvents, 'notifications.PushDeviceRegistered', 1, {
    userId: '6f1c1e52-5b0e-4a53-9a3e-0a4c0d7a1b11',
    deviceId: 'nope',
    token: 'x'.repeat(4097),
    platform: 'blackberry',
    registeredAt: '2026-03-02T09:33:00.000Z',
  });
  t.false(decoded.ok);
  if (!decoded.ok)
    t.deepEqual(decoded.issues.map((i) => i.path).sort(), ['/deviceId', '/platform', '/token']);
  const topic = decodeEvent(notificationEvents, 'notifications.TopicSubscribed', 1, {
    userId: '6f1c1e52-5b0e-4a53-9a3e-0a4c0d7a1b11',
    topic: { kind: 'lesson', id: '3b9f1c2e-8d4a-4f6b-9c1d-2e3f4a5b6c7d' },
    subscribedAt: '2026-03-02T09:31:00.000Z',
  });
  t.false(topic.ok);
  if (!topic.ok)
    t.deepEqual(
      topic.issues.map((i) => i.path),
      ['/topic/kind'],
    );
});

test('a page of decisions with an unknown status or a missing field does not decode, and says where', (t) => {
  const page = JSON.parse(readFileSync(join(root, 'notifications.NotificationsDecided.v1.json'), 'utf8')) as {
    data: { decisions: Record<string, unknown>[] };
  };
  const [sent, suppressed, failed] = page.data.decisions;
  const { reason: _reason, ...noReason } = suppressed!;
  const decoded = decodeEvent(notificationEvents, 'notifications.NotificationsDecided', 1, {
    ...page.data,
    decisions: [{ ...sent, status: 'bounced' }, noReason, { ...failed, deadLettered: 'yes' }],
  });
  t.false(decoded.ok);
  if (!decoded.ok)
    t.deepEqual(
      decoded.issues.map((i) => i.path),
      ['/decisions/0/status', '/decisions/1/reason', '/decisions/2/deadLettered'],
    );
});
