import { randomUUID } from 'node:crypto';
import test, { type TestFn } from 'ava';
import { ingestTopic, type IngestMessage } from '@lectern/schemas/analytics/ingest';
import { ch } from '@lectern/infra/analytics/sql';
import { onEveryProfile, sharedLectern, type ProfileSetup } from './testing.ts';
import { waitUntil as waitFor } from '@lectern/infra/testing/wait';
import { runCli } from '../../../tools/src/testing/run-cli.ts';

/** The `lectern` CLI, spawned as `./dev lectern` runs it, against one server with an admin token. */

const waitUntil = (what: string, check: () => Promise<boolean>, timeoutMs = 300_000) =>
  waitFor(what, check, timeoutMs, 100);

const telemetry = (source: string): IngestMessage => ({
  id: randomUUID(),
  type: 'course.viewed',
  userId: randomUUID(),
  source,
  occurredAt: Date.now(),
  payload: {},
  receivedAt: Date.now(),
});

type Summary = { topic: string; total: number; redriven: number; waiting: number };

const flow = (test: TestFn, name: string, setup: ProfileSetup) => {
  const server = sharedLectern(test, setup);

  test(`${name}: a telemetry row the engine refuses is set aside, and lectern dlq lists, shows and redrives it`, async (t) => {
    const l = await server();
    const { token } = await l.signAccessToken({ sub: randomUUID(), roles: ['admin'] });
    const env = { LECTERN_URL: l.url, LECTERN_TOKEN: token };
    const topic = `${l.namespace}.dlq.projection.analytics`;
    const summary = async (): Promise<Summary> => {
      const res = await fetch(`${l.url}/api/admin/dead-letters`, {
        headers: { authorization: `Bearer ${token}` },
      });
      const { items } = (await res.json()) as { items: Summary[] };
      return items.find((i) => i.topic === topic)!;
    };

    // What the ingest endpoint accepted before text was checked at the edge: a lone surrogate.
    const poison = telemetry('web\ud800');
    const good = telemetry('web');
    await l.log.produce(ingestTopic(l.namespace), [
      { key: poison.userId!, value: JSON.stringify(poison) },
      { key: good.userId!, value: JSON.stringify(good) },
    ]);
    await waitUntil('the dead letter', async () => (await summary()).total === 1);
    const landed = async (id: string) =>
      (
        await l.analytics!.query<{ n: number }>(
          ch`SELECT count() AS n FROM ${l.analytics!.table('events')} WHERE event_id = ${id}`,
        )
      )[0]!.n;
    await waitUntil('the good row', async () => (await landed(good.id)) > 0);
    // The good row behind the poison one landed: the consumer moved on. Readiness agrees once every
    // consumer has caught up (on a busy machine a group may still be joining when the row lands).
    let ready: unknown = null;
    await waitUntil('ready: nothing stalled', async () => {
      ready = await (await fetch(`${l.url}/readyz`)).json();
      return (ready as { status?: string }).status === 'ready';
    }).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}; last /readyz: ${JSON.stringify(ready)}`);
    });

    const list = await runCli(['dlq', 'list'], env);
    t.is(list.code, 0, list.stderr);
    const listed = (JSON.parse(list.stdout) as { items: Summary[] }).items;
    t.deepEqual(
      listed.find((i) => i.topic === topic),
      { topic, total: 1, redriven: 0, waiting: 1 },
    );
    t.true(
      listed.some((i) => i.topic === `${l.namespace}.dlq.projection.profiles`),
      'every consumer has one',
    );

    const show = await runCli(['dlq', 'show', 'analytics'], env);
    t.is(show.code, 0, show.stderr);
    const [item] = (
      JSON.parse(show.stdout) as { items: { letter: { value: string; error: { code: string } } }[] }
    ).items;
    t.is((JSON.parse(item!.letter.value) as IngestMessage).id, poison.id);
    t.is(item!.letter.error.code, '25', "the engine's own error");

    const redrive = await runCli(['dlq', 'redrive', topic], env);
    t.is(redrive.code, 0, redrive.stderr);
    t.like(JSON.parse(redrive.stdout), { topic, redriven: 1 });
    // Still refused (nothing fixed it): set aside again, and the pipeline still moves.
    await waitUntil('the letter set aside again', async () => (await summary()).total === 2);
    t.deepEqual(await summary(), { topic, total: 2, redriven: 1, waiting: 1 });

    const unknown = await runCli(['dlq', 'show', 'nope'], env);
    t.is(unknown.code, 1);
    t.regex(unknown.stderr, /no dead-letter topic 'nope'/);
  });
};

onEveryProfile(test, flow, { clickhouse: true });
