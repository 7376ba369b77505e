import test from 'ava';
import { setTimeout } from 'node:timers/promises';
import type { ReportDocument, ReportSection } from './document.ts';
import { renderPdf, safeText } from './render.ts';
import { renderInThread } from './thread.ts';

const day = (i: number) => new Date(Date.UTC(2026, 8, 1) + i * 86_400_000).toISOString().slice(0, 10);
const dau = (days: number): ReportSection => ({
  report: 'dau',
  title: 'Daily active users',
  description: 'Distinct active users per UTC day.',
  params: { from: day(0), to: day(days - 1) },
  columns: [
    { name: 'day', type: 'date' },
    { name: 'users', type: 'integer' },
  ],
  rows: Array.from({ length: days }, (_, i) => ({ day: day(i), users: 100 + ((i * 37) % 50) })),
  chart: { kind: 'line', x: 'day', series: ['users'] },
  csvPath: `/api/analytics/reports/dau/export?format=csv&from=${day(0)}&to=${day(days - 1)}`,
});
const funnel: ReportSection = {
  report: 'funnel',
  title: 'Funnel',
  description: 'Users who did the steps in order within the window.',
  params: { steps: ['viewed', 'started', 'completed', 'rated'] },
  columns: [
    { name: 'step', type: 'integer' },
    { name: 'type', type: 'string' },
    { name: 'users', type: 'integer' },
  ],
  rows: [
    { step: 1, type: 'course.viewed', users: 900 },
    { step: 2, type: 'course.started', users: 400 },
    { step: 3, type: 'course.completed', users: 120 },
    { step: 4, type: 'course.rated', users: 30 },
  ],
  chart: { kind: 'bar', x: 'type', series: ['users'] },
  csvPath: '/api/analytics/reports/funnel/export?format=csv',
};
const base: ReportDocument = {
  title: 'Learning in the autumn',
  subtitle: null,
  range: { from: day(0), to: day(89) },
  filters: {},
  generatedAt: '2026-12-01T06:00:00.000Z',
  watermark: '2026-11-30T23:59:00.000Z',
  // Pretty-printed and not ASCII: pdfkit escapes the newlines and parentheses and writes UTF-16.
  query: JSON.stringify({ title: 'Learning in the autumn', course: 'Kurs über 日本 (🎓)' }, null, 2),
  sections: [dau(90), funnel],
  maxPages: 50,
};

/** Pages, as pdfkit writes them: one `/Type /Page` object each, outside any compressed stream. */
const pagesOf = (pdf: Buffer) => pdf.toString('latin1').match(/\/Type \/Page\b(?!s)/g)?.length ?? 0;

const unescapes: Record<string, string> = { n: '\n', r: '\r', t: '\t', b: '\b', f: '\f' };
/**
 * A string of the info dictionary (`/Key n 0 R`, object n holds `(literal)`),
 * decoded as a PDF reader does: backslash escapes, then UTF-16BE when it
 * starts with the byte-order mark (pdfkit's choice for any non-ASCII text).
 */
const infoOf = (pdf: Buffer, key: string): string | undefined => {
  const text = pdf.toString('latin1');
  const ref = new RegExp(`/${key} (\\d+) 0 R`).exec(text)?.[1];
  const literal = ref && new RegExp(`\\n${ref} 0 obj\\n\\(((?:\\\\.|[^\\\\)])*)\\)`, 's').exec(text)?.[1];
  if (literal === undefined) return undefined;
  const bytes = Buffer.from(
    literal.replace(/\\(.)/gs, (_, c: string) => unescapes[c] ?? c),
    'latin1',
  );
  if (bytes[0] !== 0xfe || bytes[1] !== 0xff) return bytes.toString('latin1');
  return Buffer.from(bytes.subarray(2)).swap16().toString('utf16le');
};
/** The text runs of an uncompressed PDF, where each was placed: a `Tm`, then a TJ array of hex strings. */
const runsOf = (pdf: Buffer) =>
  [
    ...pdf
      .toString('latin1')
      .matchAll(/1 0 0 1 ([\d.-]+) ([\d.-]+) Tm\n(?:\/F\d+ [\d.]+ Tf\n)?\[([^\]]*)\] TJ/g),
  ].map((m) => ({
    x: Number(m[1]),
    y: Number(m[2]),
    text: [...m[3]!.matchAll(/<([0-9a-f]*)>/g)]
      .map((h) => Buffer.from(h[1]!, 'hex').toString('latin1'))
      .join(''),
  }));
/** The text shown, one run a line (a table cell is a run of its own). */
const textOf = (pdf: Buffer): string =>
  runsOf(pdf)
    .map((r) => r.text)
    .join('\n');

/** The worker threads this process has running now (Node's diagnostic report lists them). */
const threadsRunning = () => (process.report.getReport() as { workers: unknown[] }).workers.length;
/** Waits for a condition, checking every few ms; the bound is for a hang, not a speed. */
const until = async (condition: () => boolean, what: string) => {
  for (const deadline = Date.now() + 60_000; !condition(); await setTimeout(5))
    if (Date.now() > deadline) throw new Error(`still waiting for ${what}`);
};

test('a 90-day DAU and a funnel: a title page, charts and tables, numbered pages, the query in the metadata', async (t) => {
  const pdf = await renderPdf(base);
  t.is(pdf.subarray(0, 5).toString('latin1'), '%PDF-');
  t.is(pdf.subarray(-6).toString('latin1').trimEnd(), '%%EOF');
  // The title page; DAU's chart and 90 rows over three pages (28 under the chart, 51 a page); the funnel.
  t.is(pagesOf(pdf), 5);
  t.is(infoOf(pdf, 'LecternQuery'), base.query);
  t.is(infoOf(pdf, 'LecternWatermark'), base.watermark);
  t.deepEqual(JSON.parse(infoOf(pdf, 'LecternParameters')!), { dau: dau(90).params, funnel: funnel.params });
  t.is(infoOf(pdf, 'Author'), 'Lectern');
  t.is(infoOf(pdf, 'Keywords'), 'dau, funnel');

  const plain = await renderPdf(base, { compress: false });
  t.is(pagesOf(plain), 5);
  const text = textOf(plain);
  for (const expected of [
    'Learning in the autumn',
    'Daily active users',
    'course.completed',
    'Data as of: 2026-11-30T23:59:00.000Z',
  ])
    t.true(text.includes(expected), expected);
  for (let n = 1; n <= 5; n++) t.true(text.includes(`Page ${n} of 5`), `Page ${n} of 5`);
  // A table's header cells share one line, as its rows' cells do, the number column to the right.
  const runs = runsOf(plain);
  const [dayHeader, usersHeader] = [
    runs.find((r) => r.text === 'day')!,
    runs.find((r) => r.text === 'users')!,
  ];
  t.is(dayHeader.y, usersHeader.y);
  t.true(usersHeader.x > dayHeader.x);
  // (The chart's axis labels come before; the table's first row follows its header.)
  const firstRow = runs.indexOf(usersHeader) + 1;
  t.deepEqual(
    runs.slice(firstRow, firstRow + 2).map((r) => r.text),
    [day(0), '100'],
  );
  t.is(runs[firstRow + 1]!.y, runs[firstRow]!.y);
});

/** Filled rectangles drawn taller than a legend's swatch (8 pt): a bar chart's bars, as [x, height]. */
const barsOf = (pdf: Buffer): [number, number][] =>
  [...pdf.toString('latin1').matchAll(/^([\d.-]+) ([\d.-]+) ([\d.-]+) ([\d.-]+) re\nf$/gm)]
    .map((m) => [Number(m[1]), Number(m[4])] as [number, number])
    .filter(([, h]) => h > 8);

test('monthly users, retention and course completion: bars as tall as their values, a table for retention', async (t) => {
  const month = (i: number) => `2026-0${i + 1}-01`;
  const mau: ReportSection = {
    report: 'mau',
    title: 'Monthly active users',
    description: 'Distinct active users per month.',
    params: { from: month(0), to: '2026-03-31' },
    columns: [
      { name: 'month', type: 'date' },
      { name: 'users', type: 'integer' },
    ],
    rows: [300, 600, 450].map((users, i) => ({ month: month(i), users })),
    chart: { kind: 'bar', x: 'month', series: ['users'] },
    csvPath: '/api/analytics/reports/mau/export?format=csv',
  };
  const completion: ReportSection = {
    report: 'course-completion',
    title: 'Course completion',
    description: 'Learners who started and completed each course.',
    params: {},
    columns: [
      { name: 'course_id', type: 'string' },
      { name: 'started', type: 'integer' },
      { name: 'completed', type: 'integer' },
    ],
    rows: [
      { course_id: 'course-a', started: 10, completed: 4 },
      { course_id: 'course-b', started: 5, completed: 5 },
    ],
    chart: { kind: 'bar', x: 'course_id', series: ['started', 'completed'] },
    csvPath: '/api/analytics/reports/course-completion/export?format=csv',
  };
  const retention: ReportSection = {
    report: 'retention',
    title: 'Retention',
    description: 'Of each cohort, the share active N days later.',
    params: { days: [1, 7] },
    columns: [
      { name: 'cohort', type: 'date' },
      { name: 'day', type: 'integer' },
      { name: 'retained', type: 'number' },
    ],
    rows: [
      { cohort: '2026-01-05', day: 1, retained: 0.42 },
      { cohort: '2026-01-05', day: 7, retained: 0.17 },
    ],
    chart: null,
    csvPath: '/api/analytics/reports/retention/export?format=csv',
  };
  const only = (s: ReportSection) => renderPdf({ ...base, sections: [s] }, { compress: false });
  /** Heights in the order drawn, divided by the first: what the values are to each other. */
  const ratios = (bars: [number, number][]) => bars.map(([, h]) => Math.round((h / bars[0]![1]) * 100) / 100);

  const mauPdf = await only(mau);
  t.deepEqual(ratios(barsOf(mauPdf)), [1, 2, 1.5], 'one bar a month, 300 : 600 : 450');
  t.true(textOf(mauPdf).includes('Monthly active users'));
  // Two series: each course's started and completed bars side by side.
  const completionBars = barsOf(await only(completion));
  t.is(completionBars.length, 4);
  t.deepEqual(ratios(completionBars), [1, 0.5, 0.4, 0.5], 'started 10, 5; completed 4, 5 (series by series)');
  const retentionPdf = await only(retention);
  t.deepEqual(barsOf(retentionPdf), [], 'retention is a table only');
  const text = textOf(retentionPdf);
  for (const cell of ['Retention', 'cohort', 'retained', '2026-01-05']) t.true(text.includes(cell), cell);
});

test('the same document renders to the same bytes', async (t) => {
  t.deepEqual(await renderPdf(base), await renderPdf(base));
  t.deepEqual(await renderPdf(base, { compress: false }), await renderPdf(base, { compress: false }));
});

test('the page cap: 5,000 rows in 5 pages, and the rows left out point to the CSV export', async (t) => {
  // No chart, so every date in the text is a table row's.
  const big = { ...dau(5000), chart: null };
  const capped: ReportDocument = { ...base, sections: [big, funnel], maxPages: 5 };
  const pdf = await renderPdf(capped, { compress: false });
  t.is(pagesOf(pdf), 5);
  const text = textOf(pdf);
  const left = /Daily active users: (\d+) more rows are not shown/.exec(text)?.[1];
  t.truthy(left, 'the DAU table says what it left out');
  // Shown rows + left out = every row: 4 pages of table after the title page.
  const lines = new Set(text.split('\n'));
  const shown = big.rows.filter((r) => lines.has(String(r.day))).length;
  t.true(shown > 150, `${shown} rows shown on 4 pages`);
  t.is(shown + Number(left), 5000);
  t.true(text.includes(`all of them:\n${big.csvPath}`));
  t.true(text.includes(`Not shown (page cap): Funnel; all its rows:\n${funnel.csvPath}`));
  t.true(text.includes('Page 5 of 5'));
  t.is(pagesOf(await renderPdf({ ...capped, maxPages: 1 })), 1);
});

test('text the standard fonts cannot print becomes ?, never a crash', async (t) => {
  t.is(safeText('Kurs 🎓 über 日本 – “ok” €5'), 'Kurs ? über ?? – “ok” €5');
  t.is(safeText('tab\there\u0085'), 'tab here ');
  const title = 'Émoji 🎓 and 漢字';
  const unicode = { ...funnel, rows: [{ step: 1, type: 'kurs.日本.viewed', users: 3 }] };
  const pdf = await renderPdf({ ...base, title, sections: [unicode] }, { compress: false });
  t.is(pdf.subarray(0, 5).toString('latin1'), '%PDF-');
  const text = textOf(pdf);
  t.true(text.includes('Émoji ? and ??'));
  t.true(text.includes('kurs.??.viewed'));
  // The metadata is not limited to WinAnsi: it keeps the title as given.
  t.is(infoOf(pdf, 'Title'), title);
});

// Serial: no other test's thread may run while these count threads.
test.serial('in a thread: the same bytes, and the event loop turns meanwhile', async (t) => {
  const doc: ReportDocument = { ...base, sections: [dau(3000), funnel], maxPages: 80 };
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  try {
    const inThread = await renderInThread(doc);
    t.true(ticks > 0, 'the main thread kept running while the thread rendered');
    t.deepEqual(inThread, await renderPdf(doc));
  } finally {
    clearInterval(timer);
  }
});

test.serial('an aborted or timed-out render rejects, and leaves no thread running', async (t) => {
  const before = threadsRunning();
  const controller = new AbortController();
  // Some 1,800 pages: about six seconds of work here, so the abort comes in the middle of it.
  const rendering = renderInThread(
    { ...base, sections: [dau(100_000)], maxPages: 5000 },
    { signal: controller.signal },
  );
  await until(() => threadsRunning() === before + 1, 'the render thread to start');
  controller.abort();
  await t.throwsAsync(rendering, { message: /aborted/ });
  t.is(threadsRunning(), before);

  await t.throwsAsync(renderInThread(base, { timeoutMs: 1 }), { message: /longer than 1 ms/ });
  t.is(threadsRunning(), before);
  await t.throwsAsync(renderInThread(base, { signal: controller.signal }), {
    message: /aborted before it began/,
  });
  t.is(threadsRunning(), before);
});
