import type { Writable } from 'node:stream';
import exceljs from 'exceljs';
import {
  cellText,
  dayOf,
  headerOf,
  instantOf,
  numberOf,
  type ColumnType,
  type ExportColumn,
  type ExportRow,
} from './columns.ts';
import { ExportAborted } from './sink.ts';

export const XLSX_CONTENT_TYPE = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';

/** Rows a worksheet can hold (Excel's limit), the header row included. */
export const XLSX_MAX_ROWS = 1_048_576;

/** Characters a cell can hold (Excel's limit); longer text is cut, see `xlsxCell`. */
export const XLSX_MAX_CELL_CHARS = 32_767;

/** How dates and times show; both are real dates to the spreadsheet, in UTC. */
const NUMBER_FORMATS: Partial<Record<ColumnType, string>> = {
  date: 'yyyy-mm-dd',
  time: 'yyyy-mm-dd hh:mm:ss.000',
};

const WIDTHS: Readonly<Record<ColumnType, number>> = { string: 24, number: 14, date: 12, time: 24, json: 48 };

/** Text cut to what a cell holds, never inside a surrogate pair. */
const fit = (text: string): string => {
  if (text.length <= XLSX_MAX_CELL_CHARS) return text;
  const end = /[\uD800-\uDBFF]/.test(text[XLSX_MAX_CELL_CHARS - 1]!)
    ? XLSX_MAX_CELL_CHARS - 1
    : XLSX_MAX_CELL_CHARS;
  return text.slice(0, end);
};

/**
 * The value of a cell as the spreadsheet holds it: a number for `number`
 * columns, a date for `date` and `time` columns (shown in UTC), text for
 * the rest and for any value not of its column's kind. Text is always a
 * string cell, never a formula, so XLSX needs no formula guard. Two limits
 * of the format apply: text longer than 32 767 characters is cut there, and
 * control characters other than tab and line breaks are dropped (XML cannot
 * carry them).
 */
export const xlsxCell = (value: unknown, column: ExportColumn): string | number | Date | null => {
  if (value === null || value === undefined) return null;
  switch (column.type) {
    case 'number': {
      const n = numberOf(value);
      if (n !== null) return n;
      break;
    }
    case 'date': {
      const ms = dayOf(value);
      if (ms !== null && Math.abs(ms) <= 8.64e15) return new Date(ms);
      break;
    }
    case 'time': {
      const ms = instantOf(value);
      if (ms !== null && Math.abs(ms) <= 8.64e15) return new Date(ms);
      break;
    }
    case 'string':
    case 'json':
      break;
  }
  return fit(cellText(value, column.type));
};

/** A worksheet name Excel accepts: none of `[]:*?/\`, no edge apostrophes, at most 31 characters. */
export const sheetName = (name: string, part = 1): string => {
  const suffix = part > 1 ? ` (${part})` : '';
  const clean =
    name
      // eslint-disable-next-line no-control-regex -- control characters are among what Excel refuses
      .replace(/[[\]:*?/\\\u0000-\u001f]/g, ' ')
      .replace(/^'+|'+$/g, '')
      .trim() || 'Export';
  return `${clean.slice(0, 31 - suffix.length).trimEnd()}${suffix}`;
};

type Worksheet = ReturnType<InstanceType<typeof exceljs.stream.xlsx.WorkbookWriter>['addWorksheet']>;

/**
 * Backpressure for one worksheet of exceljs's streaming writer.
 *
 * exceljs writes a committed row's XML into a buffer of its own (a
 * `StreamBuf`) that hands every full 64 KiB block on to the zip archiver
 * without waiting (`_pipe`, whose promise it drops). However slowly the
 * client reads, rows would pile up in the archiver's input. `_pipe`'s
 * promise settles when the archiver has taken the block in, which it only
 * does as its output drains into the response: counting the blocks not yet
 * taken and waiting while there are more than `maxBlocks` bounds the memory
 * of an export to a few blocks, end to end.
 *
 * The archiver itself respects backpressure, holding at most its
 * `highWaterMark` per stage (set to 64 KiB below).
 *
 * This reaches into exceljs 4.4's internals, so it checks that they are
 * there and fails loudly if not; the unit test with a stalled reader fails
 * if a later exceljs hands data on differently.
 */
const flowGate = (sheet: Worksheet, out: Writable, maxBlocks = 2) => {
  const stream = (sheet as unknown as { stream: { _pipe?: (chunk: unknown) => Promise<void> } }).stream;
  const handOn = stream._pipe;
  if (typeof handOn !== 'function')
    throw new Error('exceljs no longer has StreamBuf._pipe: the XLSX export cannot apply backpressure');
  let pending = 0;
  let wake: (() => void) | null = null;
  stream._pipe = (chunk: unknown) => {
    pending += 1;
    return handOn.call(stream, chunk).finally(() => {
      pending -= 1;
      wake?.();
    });
  };
  return {
    /** Resolves once at most `maxBlocks` blocks wait; rejects with `ExportAborted` if `out` closes first. */
    async ready(): Promise<void> {
      while (pending > maxBlocks) {
        if (out.destroyed) throw new ExportAborted();
        await new Promise<void>((resolve, reject) => {
          const onClose = () => {
            wake = null;
            reject(new ExportAborted());
          };
          wake = () => {
            wake = null;
            out.off('close', onClose);
            resolve();
          };
          out.once('close', onClose);
        });
      }
    },
  };
};

/** Resolves with `work`, or rejects with `ExportAborted` when `out` closes without having finished. */
const unlessClosed = <T>(out: Writable, work: Promise<T>): Promise<T> => {
  let onClose: (() => void) | undefined;
  const closed = new Promise<never>((_, reject) => {
    onClose = () => {
      if (!out.writableFinished) reject(new ExportAborted());
    };
    if (out.destroyed && !out.writableFinished) reject(new ExportAborted());
    else out.once('close', onClose);
  });
  return Promise.race([work, closed]).finally(() => out.off('close', onClose!));
};

export type XlsxOptions = Readonly<{
  /** The worksheet's name (further sheets get ` (2)`, ` (3)`…); default `Export`. */
  sheetName?: string;
  /** Rows per worksheet, header included; default and maximum Excel's 1 048 576. */
  maxRowsPerSheet?: number;
}>;

/**
 * Writes `rows` to `out` as an XLSX workbook and ends `out`, in constant
 * memory: exceljs's streaming writer, each row committed (written and
 * forgotten) as it comes, strings inline rather than in a shared-strings
 * table (which would grow with the data), and backpressure from `out` back
 * to the loop over `rows` (see `flowGate`). The first row of each sheet is
 * the header, frozen; numbers, dates and times are typed cells. A sheet
 * holds at most 1 048 576 rows, so a longer export continues on further
 * sheets, each with its header. Errors behave as `writeCsv`'s.
 *
 * @example
 *   await writeXlsx(store.stream(sql), columns, res, { sheetName: 'dau' });
 */
export const writeXlsx = async (
  rows: AsyncIterable<ExportRow> | Iterable<ExportRow>,
  columns: readonly ExportColumn[],
  out: Writable,
  opts: XlsxOptions = {},
): Promise<Readonly<{ rows: number; sheets: number }>> => {
  const maxRows = Math.min(opts.maxRowsPerSheet ?? XLSX_MAX_ROWS, XLSX_MAX_ROWS);
  if (!(maxRows >= 2)) throw new RangeError('a sheet must hold the header and at least one row');
  const workbook = new exceljs.stream.xlsx.WorkbookWriter({
    stream: out,
    useStyles: true,
    useSharedStrings: false,
    // archiver buffers 1 MiB per stage by default; 64 KiB keeps what waits for a slow client small.
    // (`highWaterMark` is archiver's option, missing from exceljs's types.)
    zip: { zlib: { level: 6 }, highWaterMark: 64 * 1024 } as object,
  });
  workbook.creator = 'Lectern';

  let sheets = 0;
  const open = () => {
    sheets += 1;
    const sheet = workbook.addWorksheet(sheetName(opts.sheetName ?? 'Export', sheets), {
      views: [{ state: 'frozen', ySplit: 1 }],
    });
    sheet.columns = columns.map((c) => {
      const numFmt = NUMBER_FORMATS[c.type];
      return { key: c.key, width: WIDTHS[c.type], ...(numFmt ? { style: { numFmt } } : {}) };
    });
    sheet.addRow(columns.map(headerOf)).commit();
    return { sheet, gate: flowGate(sheet, out), rows: 1 };
  };

  let current = open();
  let count = 0;
  for await (const row of rows) {
    if (current.rows >= maxRows) {
      current.sheet.commit();
      current = open();
    }
    current.sheet.addRow(columns.map((c) => xlsxCell(row[c.key], c))).commit();
    current.rows += 1;
    count += 1;
    await current.gate.ready();
  }
  current.sheet.commit();
  await unlessClosed(out, workbook.commit());
  return { rows: count, sheets };
};
