import { PassThrough, Writable } from 'node:stream';
import test from 'ava';
import type { ExportColumn } from './columns.ts';
import { csvField, csvRecord, guardFormula, writeCsv } from './csv.ts';
import { ExportAborted } from './sink.ts';
import { parseCsv } from './testing.ts';

const columns: readonly ExportColumn[] = [
  { key: 'name', header: 'Name', type: 'string' },
  { key: 'n', type: 'number' },
  { key: 'day', type: 'date' },
  { key: 'at', type: 'time' },
  { key: 'payload', type: 'json' },
];

const collect = async (write: (out: Writable) => Promise<unknown>): Promise<string> => {
  const out = new PassThrough();
  const parts: Buffer[] = [];
  out.on('data', (b: Buffer) => parts.push(b));
  await write(out);
  return Buffer.concat(parts).toString('utf8');
};

test('fields are quoted only when RFC 4180 needs it, quotes doubled', (t) => {
  t.is(csvField('plain'), 'plain');
  t.is(csvField('a,b'), '"a,b"');
  t.is(csvField('say "hi"'), '"say ""hi"""');
  t.is(csvField('line\nbreak'), '"line\nbreak"');
  t.is(csvField('cr\r'), '"cr\r"');
  t.is(csvField(''), '');
});

test('text that a spreadsheet would run as a formula gets a leading quote', (t) => {
  for (const s of ['=1+1', '+1', '-1', '@SUM(A1)', '\tx', '\rx', '=HYPERLINK("http://x")'])
    t.is(guardFormula(s), `'${s}`, JSON.stringify(s));
  for (const s of ['1', 'a=b', ' =x', "'quoted", '']) t.is(guardFormula(s), s, JSON.stringify(s));
});

test('numbers of a number column are written as numbers, unguarded; everything else as guarded text', (t) => {
  const line = csvRecord(
    {
      name: '-dash',
      n: -5,
      day: '2024-03-30',
      at: Date.UTC(2024, 2, 30, 12, 1, 2, 3),
      payload: { a: [1, '"'] },
    },
    columns,
  );
  t.is(line, `'-dash,-5,2024-03-30,2024-03-30T12:01:02.003Z,"{""a"":[1,""\\""""]}"\r\n`);
  t.is(csvRecord({ name: null, n: '-1', payload: '=x' }, columns), `,'-1,,,'=x\r\n`);
});

test('writeCsv writes a header and one CRLF record per row, and parses back to the same values', async (t) => {
  const hostile = [
    'a,b',
    'quote " inside',
    'line\nbreak\r\n',
    'emoji 🎓 ünïcödé',
    '',
    ' spaced ',
    'nul\u0000',
  ];
  const rows = hostile.map((name, i) => ({
    name,
    n: i * 1.5,
    day: '2024-01-0' + (i + 1),
    at: i * 1000,
    payload: JSON.stringify({ name }),
  }));
  let result: { rows: number } | undefined;
  const text = await collect(async (out) => {
    result = await writeCsv(rows, columns, out, { chunkSize: 10 });
  });
  t.deepEqual(result, { rows: hostile.length });
  t.true(text.startsWith('Name,n,day,at,payload\r\n'));
  t.true(text.endsWith('\r\n'));
  const parsed = parseCsv(text);
  t.deepEqual(parsed[0], ['Name', 'n', 'day', 'at', 'payload']);
  t.deepEqual(
    parsed.slice(1),
    rows.map((r) => [r.name, String(r.n), r.day, new Date(r.at).toISOString(), r.payload]),
  );
});

test('an empty result is a header alone', async (t) => {
  t.is(await collect((out) => writeCsv([], columns, out)), 'Name,n,day,at,payload\r\n');
});

test('writeCsv waits for a slow reader: no more than a chunk or two is ever buffered', async (t) => {
  // A destination that takes a chunk every few milliseconds and has room for 16 KiB.
  let maxBuffered = 0;
  let received = 0;
  const out = new Writable({
    highWaterMark: 16 * 1024,
    write(chunk: Buffer, _enc, done) {
      received += chunk.length;
      setTimeout(done, 1);
    },
  });
  let produced = 0;
  async function* rows() {
    for (let i = 0; i < 20_000; i++) {
      maxBuffered = Math.max(maxBuffered, out.writableLength);
      produced += 1;
      yield { name: `row ${i} `.padEnd(60, 'x'), n: i, day: '2024-01-01', at: i, payload: '{}' };
    }
  }
  await writeCsv(rows(), columns, out, { chunkSize: 8 * 1024 });
  t.is(produced, 20_000);
  t.true(received > 20_000 * 60);
  // Without waiting for drain the whole ~1.7 MB would sit in the buffer.
  t.true(maxBuffered <= 16 * 1024 + 8 * 1024 + 200, `buffered up to ${maxBuffered} bytes`);
});

test('a destination that closes mid-way stops the export and ends the rows early', async (t) => {
  const out = new Writable({
    highWaterMark: 1024,
    write(_chunk, _enc, done) {
      setTimeout(done, 1);
    },
  });
  let produced = 0;
  let released = false;
  async function* rows() {
    try {
      for (let i = 0; i < 1_000_000; i++) {
        produced += 1;
        if (produced === 5_000) setImmediate(() => out.destroy());
        yield { name: 'x'.repeat(50), n: i, day: null, at: null, payload: null };
      }
    } finally {
      released = true;
    }
  }
  await t.throwsAsync(writeCsv(rows(), columns, out, { chunkSize: 2048 }), { instanceOf: ExportAborted });
  t.true(released, 'the source was released');
  t.true(produced < 20_000, `stopped after ${produced} rows`);
});

test('an error from the rows propagates and leaves the destination unended', async (t) => {
  const out = new PassThrough();
  out.resume();
  async function* rows() {
    yield { name: 'a', n: 1, day: null, at: null, payload: null };
    throw new Error('engine went away');
  }
  await t.throwsAsync(writeCsv(rows(), columns, out), { message: 'engine went away' });
  t.false(out.writableEnded);
});
