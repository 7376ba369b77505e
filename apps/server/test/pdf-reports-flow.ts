import { randomUUID } from 'node:crypto';
import type { TestFn } from 'ava';
import { pdfReportLedger } from '@lectern/analytics-commands';
import { activePdfSchedules } from '@lectern/analytics-projection-pdf-schedules';
import { pdfReportStreamId, type PdfReportScheduled } from '@lectern/schemas/analytics/pdf-reports';
import { pdfScheduler } from '@lectern/reports-worker';
import { jsonClient, problem } from './http-client.ts';
import { sharedLectern, type ProfileSetup } from './testing.ts';

/** How long a test waits for the reports worker: it renders after the answer. */
const PATIENCE_MS = 3 * 60_000;

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
};
