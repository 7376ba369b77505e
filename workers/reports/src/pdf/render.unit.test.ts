import test from 'ava';
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
  query: '{"title":"Learning in the autumn"}',
  sections: [dau(90), funnel],
  maxPages: 50,
};

/** Pages, as pdfkit writes them: one `/Type /Page` object each, outside any compressed stream. */
const pagesOf = (pdf: Buffer) => pdf.toString('latin1').match(/\/Type \/Page\b(?!s)/g)?.length ?? 0;
/** A string of the info dictionary: `/Key n 0 R`, then object n holds `(text)`. */
const infoOf = (pdf: Buffer, key: string): string | undefined => {
  const text = pdf.toString('latin1');
  const ref = new RegExp(`/${key} (\\d+) 0 R`).exec(text)?.[1];
  const obj = ref && new RegExp(`\\n${ref} 0 obj\\n\\(((?:\\\\.|[^\\\\)])*)\\)`).exec(text)?.[1];
  return obj?.replace(/\\(.)/g, '$1');
};
/** The text shown, from an uncompressed PDF: each TJ array's hex strings, kerning dropped. */
const textOf = (pdf: Buffer): string =>
  [...pdf.toString('latin1').matchAll(/\[((?:<[0-9a-f]*>\s*-?[\d.]*\s*)+)\] TJ/g)]
    .map((m) =>
      [...m[1]!.matchAll(/<([0-9a-f]*)>/g)].map((h) => Buffer.from(h[1]!, 'hex').toString('latin1')).join(''),
    )
    .join('\n');

test('a 90-day DAU and a funnel: a title page, charts and tables, numbered pages, the query in the metadata', async (t) => {
  const pdf = await renderPdf(base);
  t.is(pdf.subarray(0, 5).toString('latin1'), '%PDF-');
  t.true(pdf.subarray(-8).toString('latin1').includes('%%EOF'));
  // The title page, DAU's chart and 90 rows over three pages, the funnel.
  t.is(pagesOf(pdf), 5);
  t.is(infoOf(pdf, 'LecternQuery'), base.query);
  t.is(infoOf(pdf, 'LecternWatermark'), base.watermark);
  t.deepEqual(JSON.parse(infoOf(pdf, 'LecternParameters')!), { dau: dau(90).params, funnel: funnel.params });
  t.is(infoOf(pdf, 'Author'), 'Lectern');
  const text = textOf(await renderPdf(base, { compress: false }));
  for (const expected of [
    'Learning in the autumn',
    'Page 1 of 5',
    'Page 5 of 5',
    'Daily active users',
    'course.completed',
  ])
    t.true(text.includes(expected), expected);
});

test('the same document renders to the same bytes', async (t) => {
  t.deepEqual(await renderPdf(base), await renderPdf(base));
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
  // A table cell is a text run of its own (a line of textOf).
  const lines = new Set(text.split('\n'));
  const shown = big.rows.filter((r) => lines.has(String(r.day))).length;
  t.is(shown + Number(left), 5000);
  t.true(text.includes(big.csvPath));
  t.true(text.includes(`Not shown (page cap): Funnel; all its rows:\n${funnel.csvPath}`));
});

test('text the standard fonts cannot print becomes ?, never a crash', async (t) => {
  t.is(safeText('Kurs 🎓 über 日本 – “ok”'), 'Kurs ? über ?? – “ok”');
  const pdf = await renderPdf({ ...base, title: 'Émoji 🎓 and 漢字', sections: [funnel] });
  t.is(pdf.subarray(0, 5).toString('latin1'), '%PDF-');
});

test('in a thread: the same bytes, and the event loop turns meanwhile', async (t) => {
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

test('an aborted render rejects', async (t) => {
  const controller = new AbortController();
  const rendering = renderInThread(
    { ...base, sections: [dau(5000)], maxPages: 200 },
    { signal: controller.signal },
  );
  controller.abort();
  await t.throwsAsync(rendering, { message: /aborted/ });
  await t.throwsAsync(renderInThread(base, { signal: controller.signal }), { message: /aborted/ });
});
