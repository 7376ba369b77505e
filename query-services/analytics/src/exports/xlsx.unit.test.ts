import { PassThrough, Writable } from 'node:stream';
import test from 'ava';
import exceljs from 'exceljs';
import type { ExportColumn } from './columns.ts';
import { ExportAborted } from './sink.ts';
import { sheetName, writeXlsx, xlsxCell, XLSX_MAX_CELL_CHARS } from './xlsx.ts';

const columns: readonly ExportColumn[] = [
  { key: 'name', header: 'Name', type: 'string' },
  { key: 'n', type: 'number' },
  { key: 'day', type: 'date' },
  { key: 'at', type: 'time' },
  { key: 'payload', type: 'json' },
];

const toBuffer = async (write: (out: Writable) => Promise<unknown>): Promise<Buffer> => {
  const out = new PassThrough();
  const parts: Buffer[] = [];
  out.on('data', (b: Buffer) => parts.push(b));
  await write(out);
  return Buffer.concat(parts);
};

type Cell = exceljs.CellValue;
const readBack = async (file: Buffer): Promise<{ name: string; rows: Cell[][] }[]> => {
  const book = new exceljs.Workbook();
  await book.xlsx.load(file as unknown as ArrayBuffer);
  return book.worksheets.map((sheet) => {
    const rows: Cell[][] = [];
    sheet.eachRow({ includeEmpty: true }, (row) => {
      rows.push(columns.map((_, i) => row.getCell(i + 1).value));
    });
    return { name: sheet.name, rows };
  });
};

test('cells are typed: numbers as numbers, dates and times as dates, the rest as text', (t) => {
  const [name, n, day, at, payload] = columns as [
    ExportColumn,
    ExportColumn,
    ExportColumn,
    ExportColumn,
    ExportColumn,
  ];
  t.is(xlsxCell(42, n), 42);
  t.is(xlsxCell('9007199254740993', n), 9007199254740992);
  t.deepEqual(xlsxCell('2024-03-30', day), new Date(Date.UTC(2024, 2, 30)));
  t.deepEqual(xlsxCell(Date.UTC(2024, 2, 30, 1, 2, 3, 4), at), new Date(Date.UTC(2024, 2, 30, 1, 2, 3, 4)));
  t.deepEqual(xlsxCell('2024-03-30T01:02:03.004Z', at), new Date(Date.UTC(2024, 2, 30, 1, 2, 3, 4)));
  t.is(xlsxCell({ a: 1 }, payload), '{"a":1}');
  t.is(xlsxCell('=1+1', name), '=1+1', 'a string cell is never a formula, so no guard');
  t.is(xlsxCell('not a number', n), 'not a number', 'a value of the wrong kind is kept as text');
  t.is(xlsxCell(null, name), null);
  const long = xlsxCell('🎓'.repeat(XLSX_MAX_CELL_CHARS), name) as string;
  t.true(long.length <= XLSX_MAX_CELL_CHARS);
  t.false(/[\uD800-\uDBFF]$/.test(long), 'not cut inside a surrogate pair');
});

test('sheet names are what Excel accepts', (t) => {
  t.is(sheetName('course-completion'), 'course-completion');
  t.is(sheetName('a/b:c*d?e[f]g\\h'), 'a b c d e f g h');
  t.is(sheetName("'quoted'"), 'quoted');
  t.is(sheetName(''), 'Export');
  t.is(sheetName('x'.repeat(40)).length, 31);
  t.is(sheetName('x'.repeat(40), 12), `${'x'.repeat(26)} (12)`);
});

test('an XLSX export opens back with the same values, typed, under a header row', async (t) => {
  const rows = [
    { name: 'Ada', n: 3, day: '2024-03-30', at: Date.UTC(2024, 2, 30, 12, 1, 2, 345), payload: '{"a":1}' },
    { name: '=SUM(A1)', n: -1.25, day: '2024-01-01', at: 0, payload: { b: [1, 'two'] } },
    {
      name: 'quotes " \' <tags> & ünïcödé 🎓, line\nbreak',
      n: 0,
      day: null,
      at: null,
      payload: '{}',
    },
  ];
  let result: { rows: number; sheets: number } | undefined;
  const file = await toBuffer(async (out) => {
    result = await writeXlsx(rows, columns, out, { sheetName: 'report' });
  });
  t.deepEqual(result, { rows: 3, sheets: 1 });
  t.is(file.subarray(0, 2).toString(), 'PK', 'a zip file');
  const [sheet, ...others] = await readBack(file);
  t.is(others.length, 0);
  t.is(sheet!.name, 'report');
  t.deepEqual(sheet!.rows, [
    ['Name', 'n', 'day', 'at', 'payload'],
    ['Ada', 3, new Date(Date.UTC(2024, 2, 30)), new Date(Date.UTC(2024, 2, 30, 12, 1, 2, 345)), '{"a":1}'],
    ['=SUM(A1)', -1.25, new Date(Date.UTC(2024, 0, 1)), new Date(0), '{"b":[1,"two"]}'],
    [rows[2]!.name, 0, null, null, '{}'],
  ]);
});

test('control characters XML cannot carry are dropped; tab and line feed are kept', async (t) => {
  const file = await toBuffer((out) =>
    writeXlsx([{ name: 'a\u0000b\u0007c\u007fd\te\nf', n: 1 }], columns, out),
  );
  const [sheet] = await readBack(file);
  t.is(sheet!.rows[1]![0], 'abcd\te\nf');
});

test('an export longer than a sheet continues on further sheets, each with its header', async (t) => {
  const rows = Array.from({ length: 10 }, (_, i) => ({ name: `r${i}`, n: i }));
  let result: { rows: number; sheets: number } | undefined;
  const file = await toBuffer(async (out) => {
    result = await writeXlsx(rows, columns, out, { sheetName: 'events', maxRowsPerSheet: 4 });
  });
  t.deepEqual(result, { rows: 10, sheets: 4 });
  const sheets = await readBack(file);
  t.deepEqual(
    sheets.map((s) => s.name),
    ['events', 'events (2)', 'events (3)', 'events (4)'],
  );
  for (const s of sheets) t.deepEqual(s.rows[0], ['Name', 'n', 'day', 'at', 'payload']);
  t.deepEqual(
    sheets.flatMap((s) => s.rows.slice(1).map((r) => r[1])),
    rows.map((r) => r.n),
  );
});

test('an empty export is a workbook with the header alone', async (t) => {
  const [sheet] = await readBack(await toBuffer((out) => writeXlsx([], columns, out)));
  t.deepEqual(sheet!.rows, [['Name', 'n', 'day', 'at', 'payload']]);
});

test('a stalled reader stops the export from reading rows, and closing it ends the export', async (t) => {
  // Takes the first chunks, then never acknowledges another: a client that stopped reading.
  let chunks = 0;
  const out = new Writable({
    highWaterMark: 16 * 1024,
    write(_chunk, _enc, done) {
      chunks += 1;
      if (chunks < 3) done();
    },
  });
  let produced = 0;
  let released = false;
  async function* rows() {
    try {
      for (let i = 0; i < 300_000; i++) {
        produced += 1;
        // Random text, so that compression cannot hide a pile-up.
        yield { name: Math.random().toString(36).repeat(4), n: i, day: '2024-01-01', at: i, payload: '{}' };
      }
    } finally {
      released = true;
    }
  }
  const exporting = writeXlsx(rows(), columns, out);
  // Give a writer that ignored backpressure ample time to read every row.
  let before = -1;
  while (before !== produced) {
    before = produced;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  t.true(produced < 40_000, `read ${produced} of 300000 rows while nobody read the file`);
  out.destroy();
  await t.throwsAsync(exporting, { instanceOf: ExportAborted });
  t.true(released, 'the source was released');
});
