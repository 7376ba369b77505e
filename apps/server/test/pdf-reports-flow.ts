import { randomBytes, randomUUID } from 'node:crypto';
import type { TestFn } from 'ava';
import { pdfJobDecider, pdfReportLedger } from '@lectern/analytics-commands';
import { handleCommand } from '@lectern/infra/runtime/command-handler';
import { uncausedMetadata } from '@lectern/infra/testing/projection-spec';
import { waitUntil } from '@lectern/infra/testing/wait';
import { activePdfSchedules } from '@lectern/analytics-projection-pdf-schedules';
import {
  pdfReportEvents,
  pdfReportStreamId,
  type PdfReportScheduled,
} from '@lectern/schemas/analytics/pdf-reports';
import { pdfScheduler } from '@lectern/reports-worker';
import { jsonClient, problem } from './http-client.ts';
import { firstPageAsPng, inkOf, pdfText } from './pdf-reading.ts';
import { sharedLectern, type ProfileSetup } from './testing.ts';
import { runCli } from '../../../tools/src/testing/run-cli.ts';

/** How long a test waits for the reports worker: it renders after the answer. */
const PATIENCE_MS = 3 * 60_000;

const DAY_MS = 86_400_000;
/** The UTC day `n` days after the one `t` falls in. */
const dayOf = (t: number, n = 0): string => new Date(t + n * DAY_MS).toISOString().slice(0, 10);
/** Text to match literally inside a RegExp. */
const literal = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** A count as the PDF's tables print integers (grouped; ClickHouse may answer them as strings). */
const printed = (n: string | number): string => BigInt(n).toLocaleString('en-US');
type DauRow = { day: string; users: string | number };
type FunnelRow = { step: string | number; type: string; users: string | number };
/** Rows as plain values, whether the engine answered counts as numbers or as strings. */
const dauValues = (rows: readonly DauRow[]) => rows.map((r) => [r.day, Number(r.users)]);
const funnelValues = (rows: readonly FunnelRow[]) =>
  rows.map((r) => [Number(r.step), r.type, Number(r.users)]);

/**
 * PDF dashboards end to end (issue 11, part 2): asked for over HTTP,
 * rendered by the reports worker from the analytics store (chDB embedded,
 * ClickHouse on the engines), stored, fetched through the presigned GET the
 * job answers; and a schedule's slot asked for by two schedulers at once,
 * which makes one job.
 */
export const pdfReportsFlow = (test: TestFn, name: string, setup: ProfileSetup) => {
  const lectern = sharedLectern(test, setup);
  const call = jsonClient(async () => (await lectern()).url);
  const token = async (roles: string[]) =>
    (await (await lectern()).signAccessToken({ sub: randomUUID(), roles })).token;
  const jobWhen = async (as: string, jobId: string) => {
    for (const deadline = Date.now() + PATIENCE_MS; ;) {
      const r = await call('GET', `/api/analytics/reports/pdf/${jobId}`, { token: as });
      if (r.status !== 200) throw new Error(`GET job: ${r.status} ${JSON.stringify(r.body)}`);
      if (r.body!.status !== 'queued') return r.body!;
      if (Date.now() > deadline) throw new Error(`the job is still ${JSON.stringify(r.body)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };

  test.serial(`${name}: a PDF of reports is asked for, rendered, stored and fetched`, async (t) => {
    const analyst = await token(['analyst']);
    const definition = {
      title: 'Learning in November',
      from: '2026-11-01',
      to: '2026-11-30',
      reports: [
        { name: 'dau', params: {} },
        { name: 'funnel', params: { steps: 'course.viewed,course.started,course.completed' } },
      ],
    };
    const key = `pdf-${randomUUID()}`;
    const ask = () =>
      call('POST', '/api/analytics/reports/pdf', {
        token: analyst,
        body: definition,
        headers: { 'idempotency-key': key },
      });
    const asked = await ask();
    t.is(asked.status, 202, JSON.stringify(asked.body));
    const jobId = asked.body!.jobId as string;
    t.is(asked.headers.get('location'), `/api/analytics/reports/pdf/${jobId}`);
    t.is((await ask()).body!.jobId, jobId, 'a retry is the same job');

    const job = await jobWhen(analyst, jobId);
    t.like(job, { status: 'ready', title: 'Learning in November', reports: ['dau', 'funnel'], reason: null });
    t.true(job.pages >= 2, `${job.pages} pages`);
    const pdf = Buffer.from(await (await fetch(job.url)).arrayBuffer());
    t.is(pdf.subarray(0, 5).toString('latin1'), '%PDF-');
    t.is(pdf.length, job.bytes);
    t.is(pdf.toString('latin1').match(/\/Type \/Page\b(?!s)/g)?.length, job.pages);
    // The query and its parameters travel in the metadata, so the report can be made again.
    t.true(
      pdf.includes('LecternQuery') && pdf.includes('LecternWatermark'),
      'the info dictionary names them',
    );

    // Only one stream holds the job: the retry did not ask twice.
    const l = await lectern();
    const events = await l.store.readStream(pdfReportStreamId(jobId));
    t.deepEqual(
      events.map((e) => e.type),
      ['analytics.PdfReportRequested', 'analytics.PdfReportRendered'],
    );
  });

  test.serial(
    `${name}: the PDF's first page is drawn, and its tables say what the JSON reports say`,
    async (t) => {
      // 1. Seed a past week (ingest takes at most 30 days back, so it is fixed
      //    relative to today) under sources of this test's own: users per day all
      //    different, and a funnel whose steps narrow (8, 5, 3), none of them 0.
      const admin = await token(['admin']);
      const analyst = await token(['analyst']);
      const tag = randomBytes(4).toString('hex');
      const [dauSource, funnelSource] = [`pdf-dau-${tag}`, `pdf-funnel-${tag}`];
      const now = Date.now();
      const from = dayOf(now, -9);
      const to = dayOf(now, -3);
      const perDay = [4, 9, 2, 12, 6, 1, 7];
      const users = Array.from({ length: 12 }, () => randomUUID());
      const noon = (day: string) => Date.parse(`${day}T12:00:00Z`);
      const active = perDay.flatMap((count, d) =>
        users.slice(0, count).map((userId, i) => ({
          type: 'lesson.completed',
          userId,
          time: noon(dayOf(Date.parse(from), d)) + i * 1000,
          source: dauSource,
          payload: {},
        })),
      );
      const steps = ['course.viewed', 'course.started', 'course.completed'];
      const reached = [8, 5, 3];
      const funnelDay = noon(dayOf(Date.parse(from), 2));
      const funnelEvents = users.slice(0, reached[0]).flatMap((userId, u) =>
        steps
          .filter((_, k) => u < reached[k]!)
          .map((type, k) => ({
            type,
            userId,
            time: funnelDay + u * 1000 + k * 60_000,
            source: funnelSource,
            payload: { courseId: 'c-pdf' },
          })),
      );
      const sent = await call('POST', '/api/analytics/ingest', {
        token: admin,
        body: { events: [...active, ...funnelEvents] },
      });
      t.is(sent.status, 202, JSON.stringify(sent.body));

      // 2. The JSON reports of exactly that range and those parameters, once the projector has them all.
      const dauParams = { source: dauSource };
      const funnelParams = { steps: steps.join(','), source: funnelSource };
      const rowsOf = async (name: string, params: Record<string, string>) => {
        const query = new URLSearchParams({ ...params, from, to }).toString();
        const r = await call('GET', `/api/analytics/reports/${name}?${query}`, { token: analyst });
        if (r.status !== 200) throw new Error(`GET ${name}: ${r.status} ${JSON.stringify(r.body)}`);
        return r.body!.rows;
      };
      const expectedDau = perDay.map((n, d) => [dayOf(Date.parse(from), d), n]);
      const expectedFunnel = steps.map((type, k) => [k + 1, type, reached[k]]);
      let dau: DauRow[] = [];
      let funnel: FunnelRow[] = [];
      const seen = () =>
        JSON.stringify([dauValues(dau), funnelValues(funnel)]) ===
        JSON.stringify([expectedDau, expectedFunnel]);
      for (const deadline = Date.now() + PATIENCE_MS; !seen() && Date.now() < deadline;) {
        [dau, funnel] = await Promise.all([rowsOf('dau', dauParams), rowsOf('funnel', funnelParams)]);
        if (!seen()) await new Promise((resolve) => setTimeout(resolve, 200));
      }
      t.deepEqual(dauValues(dau), expectedDau, 'the JSON reports count what was sent');
      t.deepEqual(funnelValues(funnel), expectedFunnel);

      // 3. The PDF of the same reports, range and parameters, through its presigned GET.
      const asked = await call('POST', '/api/analytics/reports/pdf', {
        token: analyst,
        body: {
          title: 'Numbers to read back',
          from,
          to,
          reports: [
            { name: 'dau', params: dauParams },
            { name: 'funnel', params: funnelParams },
          ],
        },
      });
      t.is(asked.status, 202, JSON.stringify(asked.body));
      const job = await jobWhen(analyst, asked.body!.jobId as string);
      t.is(job.status, 'ready', JSON.stringify(job));
      const fetched = await fetch(job.url);
      t.is(fetched.status, 200);
      const pdf = Buffer.from(await fetched.arrayBuffer());

      // 4. The first page as poppler draws it (50 dpi: A4 is 414 × 585) is not blank: some ink, some of
      //    it dark (text), most of the page paper, in more than one colour.
      const page = await firstPageAsPng(pdf, 50);
      t.true(
        Math.abs(page.width - (595.28 / 72) * 50) <= 1 && Math.abs(page.height - (841.89 / 72) * 50) <= 1,
      );
      const ink = inkOf(page);
      t.log(
        `page 1 at 50 dpi: ${(ink.inked * 100).toFixed(2)}% inked, ${(ink.dark * 100).toFixed(2)}% dark, ${ink.colours} colours`,
      );
      t.true(ink.inked >= 0.01 && ink.inked <= 0.5, `inked ${ink.inked}`);
      t.true(ink.dark >= 0.005, `dark ${ink.dark}`);
      t.true(ink.colours >= 3, `${ink.colours} colours`);

      // 5. Every number of the JSON reports is in the PDF's text, on the line of its row: the day
      //    and its users; the step, its type and its users. And no other such row is there.
      const text = await pdfText(pdf);
      const lines = text.split(/\r?\n|\f/);
      t.true(text.includes(`Range: ${from} to ${to}`), 'the title page names the range');
      const rowsLike = (pattern: RegExp) => lines.filter((l) => pattern.test(l));
      for (const r of dau) {
        const row = new RegExp(`^\\s*${literal(r.day)}\\s+${literal(printed(r.users))}\\s*$`);
        t.is(rowsLike(row).length, 1, `the row of ${r.day} (${r.users} users)`);
      }
      for (const r of funnel) {
        const row = new RegExp(
          `^\\s*${literal(String(r.step))}\\s+${literal(r.type)}\\s+${literal(printed(r.users))}\\s*$`,
        );
        t.is(rowsLike(row).length, 1, `the row of step ${r.step} ${r.type} (${r.users} users)`);
      }
      t.is(rowsLike(/^\s*\d{4}-\d{2}-\d{2}\s+[\d,]+\s*$/).length, dau.length, 'one row a day, no more');
      t.is(rowsLike(/^\s*\d+\s+course\.\S+\s+[\d,]+\s*$/).length, funnel.length, 'one row a step, no more');
    },
  );

  test.serial(`${name}: a bad definition is refused with a pointer; learners are refused`, async (t) => {
    const analyst = await token(['analyst']);
    const bad = await call('POST', '/api/analytics/reports/pdf', {
      token: analyst,
      body: { title: 'x', from: '2026-11-01', to: '2026-11-30', reports: [{ name: 'funnel', params: {} }] },
    });
    problem(t, bad, 400, 'validation_failed');
    t.deepEqual(
      (bad.body!.errors as { path: string }[]).map((e) => e.path),
      ['/reports/0/params/steps'],
    );
    const learner = await token(['learner']);
    problem(
      t,
      await call('POST', '/api/analytics/reports/pdf', { token: learner, body: {} }),
      403,
      'forbidden',
    );
    problem(
      t,
      await call('GET', `/api/analytics/reports/pdf/${randomUUID()}`, { token: analyst }),
      404,
      'pdf_report_not_found',
    );
  });

  test.serial(`${name}: two schedulers at one slot make one job, which the worker renders`, async (t) => {
    const analyst = await token(['analyst']);
    const created = await call('POST', '/api/analytics/reports/pdf/schedules', {
      token: analyst,
      body: {
        title: 'Weekly',
        lastDays: 7,
        reports: [{ name: 'wau', params: {} }],
        cadence: { every: 'week', weekday: 1, hour: 6 },
      },
    });
    t.is(created.status, 201, JSON.stringify(created.body));
    const scheduleId = created.body!.scheduleId as string;
    const l = await lectern();
    // The read model the schedulers work from (bounded wait: a projection applies after the answer).
    let schedule: PdfReportScheduled | undefined;
    for (const deadline = Date.now() + PATIENCE_MS; !schedule && Date.now() < deadline;) {
      schedule = (await activePdfSchedules(l.sql)).find((s) => s.scheduleId === scheduleId);
      if (!schedule) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    t.truthy(schedule);
    const listed = await call('GET', '/api/analytics/reports/pdf/schedules', { token: analyst });
    t.true((listed.body!.items as { scheduleId: string }[]).some((s) => s.scheduleId === scheduleId));

    // Two replicas, their clocks at the first Monday 06:00 after the schedule was made, race for the slot.
    const created_ = Date.parse(schedule!.createdAt);
    const day = 86_400_000;
    let monday = Math.floor(created_ / day) * day + 6 * 3_600_000;
    while (monday <= created_ || new Date(monday).getUTCDay() !== 1) monday += day;
    const jobs = pdfReportLedger({ store: l.store, clock: { now: () => new Date() } });
    const replicas = [0, 1].map(() =>
      pdfScheduler({ schedules: async () => [schedule!], jobs, logger: l.logger, now: () => monday + 1000 }),
    );
    await Promise.all(replicas.map((r) => r.tick()));
    await replicas[0]!.tick();
    const slotJob = (await jobs.requestSlot(schedule!, monday)).jobId;
    const requested = (await l.store.readStream(pdfReportStreamId(slotJob))).filter(
      (e) => e.type === 'analytics.PdfReportRequested',
    );
    t.is(requested.length, 1, 'one job for the slot, however many asked, however often');
    const job = await jobWhen(analyst, slotJob);
    t.like(job, { status: 'ready', scheduleId, slot: new Date(monday).toISOString(), reports: ['wau'] });

    const cancelled = await call('DELETE', `/api/analytics/reports/pdf/schedules/${scheduleId}`, {
      token: analyst,
    });
    t.is(cancelled.status, 200);
    problem(
      t,
      await call('DELETE', `/api/analytics/reports/pdf/schedules/${randomUUID()}`, { token: analyst }),
      404,
      'pdf_schedule_not_found',
    );
  });

  test.serial(
    `${name}: a failed job's dead letter, redriven with lectern dlq, queues the job again, once per letter`,
    async (t) => {
      const l = await lectern();
      const analyst = await token(['analyst']);
      const admin = await token(['admin']);
      // A request the reports refuse when they run (what the route would have refused, written
      // straight to the job's stream): a permanent failure, recorded on the job and dead-lettered.
      const jobId = randomUUID();
      const at = new Date().toISOString();
      await handleCommand({
        store: l.store,
        streamId: pdfReportStreamId(jobId),
        decider: pdfJobDecider,
        catalogue: pdfReportEvents,
        command: {
          type: 'RequestPdfReport',
          jobId,
          definition: {
            title: 'Refused',
            from: '2026-11-01',
            to: '2026-11-30',
            reports: [{ name: 'dau', params: { nope: 'x' } }],
            maxPages: 10,
          },
          requestedBy: 'analyst',
          scheduleId: null,
          slot: null,
          requestedAt: at,
        },
        commandId: randomUUID(),
        occurredAt: at,
        metadata: uncausedMetadata(),
      });
      const failed = await jobWhen(analyst, jobId);
      t.is(failed.status, 'failed');
      t.truthy(failed.reason);

      const env = { LECTERN_URL: l.url, LECTERN_TOKEN: admin };
      const topic = `${l.namespace}.dlq.worker.reports`;
      const letters = async () => {
        const r = await runCli(['dlq', 'show', topic], env);
        if (r.code !== 0) throw new Error(r.stderr);
        return (
          JSON.parse(r.stdout) as { items: { redriven: boolean; letter: { value: string } }[] }
        ).items.filter((i) => i.letter.value.includes(jobId));
      };
      await waitUntil('the dead letter', async () => (await letters()).length === 1, PATIENCE_MS, 100);
      const types = async () => (await l.store.readStream(pdfReportStreamId(jobId))).map((e) => e.type);

      // Redriven: queued again and tried afresh; refused again, it fails again and is set aside again.
      // (A redrive also takes letters that arrive while it runs, so the new letter may come back at
      // once: how many rounds one redrive makes is not fixed, only that each letter makes one.)
      const events = () => l.store.readStream(pdfReportStreamId(jobId));
      const requeuedLetters = async () =>
        (await events())
          .filter((e) => e.type === 'analytics.PdfReportRequeued')
          .map((e) => (e.data as { letter: string }).letter);
      const settled = async () => {
        const all = await events();
        return all.at(-1)!.type === 'analytics.PdfReportFailed' ? all.length : 0;
      };
      const redrive = await runCli(['dlq', 'redrive', topic], env);
      t.is(redrive.code, 0, redrive.stderr);
      t.true((JSON.parse(redrive.stdout) as { redriven: number }).redriven >= 1);
      await waitUntil(
        'queued again and failed again',
        async () => (await requeuedLetters()).length >= 1 && (await settled()) > 2,
        PATIENCE_MS,
        100,
      );
      const first = await requeuedLetters();
      t.deepEqual((await types()).slice(0, 4), [
        'analytics.PdfReportRequested',
        'analytics.PdfReportFailed',
        'analytics.PdfReportRequeued',
        'analytics.PdfReportFailed',
      ]);
      for (const letter of first) t.regex(letter, new RegExp(`^${literal(topic)}@\\d+$`));
      t.is(new Set(first).size, first.length, 'each letter queues the job once');
      t.like(await jobWhen(analyst, jobId), { status: 'failed' });

      // The newest letter redriven again: queued once more, and still no letter twice.
      t.is((await runCli(['dlq', 'redrive', topic], env)).code, 0);
      await waitUntil(
        'queued once more',
        async () => (await requeuedLetters()).length > first.length && (await settled()) > 0,
        PATIENCE_MS,
        100,
      );
      const all = await requeuedLetters();
      t.is(new Set(all).size, all.length, 'each letter queues the job once');
      t.true((await letters()).length >= all.length + 1, 'every round that failed left its letter');
    },
  );
};
