import type { Writable } from 'node:stream';
import { cellText, headerOf, numberOf, type ExportColumn, type ExportRow } from './columns.ts';
import { endOf, writeChunk } from './sink.ts';

export const CSV_CONTENT_TYPE = 'text/csv; charset=utf-8';

/**
 * Characters that make a spreadsheet read a cell as a formula when it is the
 * first one: `=`, `+`, `-`, `@` (OWASP's "CSV injection"), and tab and
 * carriage return, which some spreadsheets strip before looking.
 */
const FORMULA_START = /^[=+\-@\t\r]/;

/**
 * A cell's text made safe to open in a spreadsheet: text that could start a
 * formula gets a leading `'`, which spreadsheets show as text. Exported data
 * comes from clients (event types, sources, payloads), so without this a
 * crafted value would run as a formula on an analyst's machine. Numbers of a
 * `number` column are never guarded: `-5` is a number, not a formula.
 *
 * @example guardFormula('=HYPERLINK("http://evil")') // `'=HYPERLINK("http://evil")`
 */
export const guardFormula = (text: string): string => (FORMULA_START.test(text) ? `'${text}` : text);

const NEEDS_QUOTES = /[",\r\n]/;

/** One RFC 4180 field: quoted when it holds a comma, a quote or a line break; quotes doubled. */
export const csvField = (text: string): string =>
  NEEDS_QUOTES.test(text) ? `"${text.replaceAll('"', '""')}"` : text;

/** The text of one cell as the CSV carries it, before quoting. */
export const csvCell = (value: unknown, column: ExportColumn): string => {
  if (column.type === 'number' && typeof value === 'number' && numberOf(value) !== null) return String(value);
  return guardFormula(cellText(value, column.type));
};

/** One record: fields joined by commas, ended by CRLF as RFC 4180 says. */
export const csvRecord = (row: ExportRow, columns: readonly ExportColumn[]): string => {
  let line = '';
  for (let i = 0; i < columns.length; i++) {
    const column = columns[i]!;
    if (i > 0) line += ',';
    line += csvField(csvCell(row[column.key], column));
  }
  return `${line}\r\n`;
};

/** The header record. */
export const csvHeader = (columns: readonly ExportColumn[]): string =>
  `${columns.map((c) => csvField(guardFormula(headerOf(c)))).join(',')}\r\n`;

export type WriteOptions = Readonly<{
  /** Bytes (UTF-16 units) gathered before a write; default 64 KiB. */
  chunkSize?: number;
}>;

/**
 * Writes `rows` to `out` as CSV (RFC 4180, UTF-8 without a byte-order mark,
 * CRLF line ends, a header record) and ends `out`. Records are gathered into
 * chunks of about `chunkSize` and each chunk waits for `out` to drain, so
 * memory stays constant whatever the number of rows. Leaving early (an error
 * from `rows`, or `out` closing: `ExportAborted`) ends the loop over `rows`,
 * which releases the query behind it; `out` is then left as it is, for the
 * caller to destroy.
 *
 * @example
 *   const { rows } = await writeCsv(store.stream(sql), columns, res);
 */
export const writeCsv = async (
  rows: AsyncIterable<ExportRow> | Iterable<ExportRow>,
  columns: readonly ExportColumn[],
  out: Writable,
  opts: WriteOptions = {},
): Promise<Readonly<{ rows: number }>> => {
  const chunkSize = opts.chunkSize ?? 64 * 1024;
  let chunk = csvHeader(columns);
  let count = 0;
  for await (const row of rows) {
    chunk += csvRecord(row, columns);
    count += 1;
    if (chunk.length >= chunkSize) {
      await writeChunk(out, chunk);
      chunk = '';
    }
  }
  if (chunk) await writeChunk(out, chunk);
  await endOf(out);
  return { rows: count };
};
