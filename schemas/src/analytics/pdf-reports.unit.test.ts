import test from 'ava';
import { latestSlot, pdfReportRequest, pdfScheduleRequest, slotRange, type Cadence } from './pdf-reports.ts';

const at = (iso: string) => Date.parse(iso);
const weekly: Cadence = { every: 'week', weekday: 1, dayOfMonth: null, hour: 6, minute: 0 };

test('the latest weekly slot: Monday 06:00 UTC, at or before now', (t) => {
  t.is(latestSlot(weekly, at('2026-12-03T10:00:00Z'), 0), at('2026-11-30T06:00:00Z'));
  t.is(latestSlot(weekly, at('2026-11-30T06:00:00Z'), 0), at('2026-11-30T06:00:00Z'), 'the slot itself');
  t.is(latestSlot(weekly, at('2026-11-30T05:59:59Z'), 0), at('2026-11-23T06:00:00Z'), 'just before it');
  t.is(latestSlot({ ...weekly, weekday: 7 }, at('2026-12-03T10:00:00Z'), 0), at('2026-11-29T06:00:00Z'));
});

test('daily and monthly slots, and none before the schedule existed', (t) => {
  const daily: Cadence = { every: 'day', weekday: null, dayOfMonth: null, hour: 23, minute: 30 };
  t.is(latestSlot(daily, at('2026-12-03T10:00:00Z'), 0), at('2026-12-02T23:30:00Z'));
  t.is(latestSlot(daily, at('2026-12-03T23:30:00Z'), 0), at('2026-12-03T23:30:00Z'));
  const monthly: Cadence = { every: 'month', weekday: null, dayOfMonth: 1, hour: 6, minute: 0 };
  t.is(latestSlot(monthly, at('2026-12-01T05:00:00Z'), 0), at('2026-11-01T06:00:00Z'));
  t.is(latestSlot(monthly, at('2026-01-01T05:00:00Z'), 0), at('2025-12-01T06:00:00Z'), 'across a year');
  t.is(latestSlot(weekly, at('2026-12-03T10:00:00Z'), at('2026-12-01T00:00:00Z')), null);
});

test("a slot's range: the last days before its day", (t) => {
  t.deepEqual(slotRange(at('2026-11-30T06:00:00Z'), 7), { from: '2026-11-23', to: '2026-11-29' });
  t.deepEqual(slotRange(at('2026-03-01T00:00:00Z'), 1), { from: '2026-02-28', to: '2026-02-28' });
});

test("a definition's reports are checked as their URLs check them, with pointers", (t) => {
  const ok = pdfReportRequest({
    title: 'Week',
    from: '2026-11-01',
    to: '2026-11-30',
    reports: [
      { name: 'dau', params: { source: 'web' } },
      { name: 'funnel', params: { steps: 'a,b' } },
    ],
  });
  t.true(ok.ok);
  if (ok.ok) t.is(ok.value.maxPages, 50);
  const bad = pdfReportRequest({
    title: 'Week',
    from: '2026-11-01',
    to: '2026-11-30',
    reports: [
      { name: 'funnel', params: {} },
      { name: 'dau', params: { colour: 'red' } },
      { name: 'dau', params: {} },
    ],
  });
  t.false(bad.ok);
  if (!bad.ok)
    t.deepEqual(bad.issues.map((i) => i.path).sort(), [
      '/reports/0/params/steps',
      '/reports/1/params/colour',
      '/reports/2/name',
    ]);
  const reversed = pdfReportRequest({
    title: 'x',
    from: '2026-12-01',
    to: '2026-11-01',
    reports: [{ name: 'dau', params: {} }],
  });
  t.false(reversed.ok);
  t.false(pdfReportRequest({ title: 'x', from: '2026-11-01', to: '2026-11-02', reports: [] }).ok);
});

test('a schedule names its weekday or day of month only when its cadence needs one', (t) => {
  const base = { title: 'Weekly', lastDays: 7, reports: [{ name: 'wau', params: {} }] };
  t.true(pdfScheduleRequest({ ...base, cadence: { every: 'week', weekday: 1, hour: 6 } }).ok);
  t.false(pdfScheduleRequest({ ...base, cadence: { every: 'week', hour: 6 } }).ok);
  t.false(pdfScheduleRequest({ ...base, cadence: { every: 'day', weekday: 1, hour: 6 } }).ok);
  t.true(
    pdfScheduleRequest({ ...base, cadence: { every: 'month', dayOfMonth: 28, hour: 0, minute: 15 } }).ok,
  );
});

test('a number parameter is taken as its URL would write it', (t) => {
  const r = pdfReportRequest({
    title: 'Funnel',
    from: '2026-11-01',
    to: '2026-11-30',
    reports: [{ name: 'funnel', params: { steps: 'a,b', window: 3600 } }],
  });
  t.true(r.ok);
  if (r.ok) t.deepEqual(r.value.reports[0]!.params, { steps: 'a,b', window: '3600' });
});
