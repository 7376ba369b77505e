/**
 * What an export knows about each column: where its value is in a row, what
 * its header says, and what kind of value it holds. The kind decides how a
 * cell is written: CSV writes text either way, XLSX writes numbers as
 * numbers and dates and times as dates, so that a spreadsheet can sort and
 * sum them without the reader converting anything.
 */

/**
 * - `string`: text (in CSV, guarded against formula injection).
 * - `number`: a JSON number, or a numeric string as 64-bit integers may arrive.
 * - `date`: a UTC day, `YYYY-MM-DD` as the store returns `Date` columns.
 * - `time`: an instant, epoch milliseconds (how the tables keep time) or ISO 8601; written as ISO 8601 UTC.
 * - `json`: a JSON document, as text or as a value (written as its JSON text).
 */
export type ColumnType = 'string' | 'number' | 'date' | 'time' | 'json';

export type ExportColumn = Readonly<{
  /** The row's property. */
  key: string;
  /** The header cell; the key when absent. */
  header?: string;
  type: ColumnType;
}>;

export type ExportRow = Readonly<Record<string, unknown>>;

const DAY = /^\d{4}-\d{2}-\d{2}$/;

/** An instant as epoch milliseconds, or null when the value is not one. */
export const instantOf = (value: unknown): number | null => {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'string') {
    if (/^-?\d+$/.test(value)) return Number(value);
    const ms = Date.parse(value);
    return Number.isNaN(ms) ? null : ms;
  }
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.getTime();
  return null;
};

/** A UTC day as epoch milliseconds of its midnight, or null when the value is not one. */
export const dayOf = (value: unknown): number | null => {
  if (typeof value === 'string' && DAY.test(value)) {
    const ms = Date.parse(`${value}T00:00:00.000Z`);
    return Number.isNaN(ms) ? null : ms;
  }
  return instantOf(value);
};

/** A number from a JSON number or a numeric string, or null when the value is neither. */
export const numberOf = (value: unknown): number | null => {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'string' && value.trim() !== '') {
    const n = Number(value);
    return Number.isFinite(n) ? n : null;
  }
  return null;
};

/**
 * The text of a cell, as CSV writes it and as XLSX writes anything it cannot
 * type. Missing values are empty. A value that is not of its column's kind is
 * written as text rather than dropped: an export must never lose data.
 */
export const cellText = (value: unknown, type: ColumnType): string => {
  if (value === null || value === undefined) return '';
  switch (type) {
    case 'time': {
      const ms = instantOf(value);
      if (ms !== null && Math.abs(ms) <= 8.64e15) return new Date(ms).toISOString();
      break;
    }
    case 'date': {
      if (typeof value === 'string' && DAY.test(value)) return value;
      const ms = dayOf(value);
      if (ms !== null && Math.abs(ms) <= 8.64e15) return new Date(ms).toISOString().slice(0, 10);
      break;
    }
    case 'json':
      if (typeof value !== 'string') return JSON.stringify(value) ?? '';
      break;
    case 'number':
    case 'string':
      break;
  }
  if (typeof value === 'string') return value;
  if (typeof value === 'object') return JSON.stringify(value) ?? '';
  return String(value);
};

/** The header of a column. */
export const headerOf = (column: ExportColumn): string => column.header ?? column.key;
