/**
 * Building ClickHouse SQL with values in it, safely.
 *
 * ClickHouse 18.16 (the oldest server we support) has no query parameters, so
 * values must travel inside the SQL text as literals. The only way to put
 * text into a query here is the `ch` tag: every interpolated value becomes a
 * quoted literal, and only fragments built by this module (`ident`, `raw`,
 * nested `ch`) are spliced in as SQL. A query is therefore never built by
 * concatenating strings, which is where injection comes from.
 */

const brand = Symbol('ChSql');

/** SQL text built by `ch`, `ident` or `raw`; the adapters accept nothing else. */
export type ChSql = Readonly<{ [brand]: true; text: string }>;

/** What may be interpolated into `ch`: rendered as a literal, except fragments. */
export type ChValue = string | number | bigint | boolean | null | ChSql | readonly ChValue[];

const fragment = (text: string): ChSql => Object.freeze({ [brand]: true as const, text });

export const isChSql = (value: unknown): value is ChSql =>
  typeof value === 'object' && value !== null && (value as { [brand]?: unknown })[brand] === true;

// Escapes ClickHouse's string-literal parser understands in 18.16 and 26.x
// alike. Control characters are escaped too, so a literal never carries a raw
// NUL or line break into logs or into a parser that might stop at one.
const ESCAPES: Readonly<Record<string, string>> = {
  '\\': '\\\\',
  "'": "\\'",
  '\0': '\\0',
  '\b': '\\b',
  '\f': '\\f',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
};

/**
 * A ClickHouse string literal holding exactly `value`: backslash and quote
 * escaped, control characters as escapes (`\xHH` where no short form exists).
 * Other characters pass through as UTF-8.
 *
 * @example quoteString("O'Brien\\") // "'O\\'Brien\\\\'"
 */
export const quoteString = (value: string): string => {
  if (typeof value !== 'string') throw new TypeError(`quoteString expects a string, got ${typeof value}`);
  // eslint-disable-next-line no-control-regex -- control characters are what this escapes
  const escaped = value.replace(/[\\'\u0000-\u001f\u007f]/g, (c) => {
    const short = ESCAPES[c];
    if (short) return short;
    return `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
  });
  return `'${escaped}'`;
};

/** A number as a literal; non-finite numbers and unsafe integers are refused, never rounded. */
const quoteNumber = (value: number): string => {
  if (!Number.isFinite(value)) throw new RangeError(`cannot put ${value} into SQL`);
  if (Number.isInteger(value) && !Number.isSafeInteger(value)) {
    throw new RangeError(`${value} is beyond 2^53 and has lost precision; pass a bigint`);
  }
  // Parenthesised so that `x - ${-1}` never reads as a `--` comment.
  return value < 0 || Object.is(value, -0) ? `(${value})` : String(value);
};

const render = (value: ChValue): string => {
  if (isChSql(value)) return value.text;
  if (value === null) return 'NULL';
  if (Array.isArray(value)) {
    // A comma-separated list for `IN (${list})`; an empty one would be a
    // syntax error there, and silently matching nothing hides bugs.
    if (value.length === 0)
      throw new RangeError('an empty list cannot be put into SQL; handle it before the query');
    return value.map(render).join(', ');
  }
  switch (typeof value) {
    case 'string':
      return quoteString(value);
    case 'number':
      return quoteNumber(value);
    case 'bigint':
      return value < 0n ? `(${value})` : String(value);
    case 'boolean':
      return value ? '1' : '0';
    default:
      throw new TypeError(`cannot put a ${typeof value} into SQL`);
  }
};

/**
 * Tag for ClickHouse SQL: values become literals, `ChSql` fragments are
 * spliced in as they are, arrays become comma-separated lists.
 *
 * @example
 *   const q = ch`SELECT count() AS n FROM ${store.table('visits')}
 *                WHERE user_id = ${userId} AND page IN (${pages})`;
 */
export const ch = (strings: TemplateStringsArray, ...values: readonly ChValue[]): ChSql => {
  let text = strings[0] ?? '';
  values.forEach((value, i) => {
    text += render(value) + (strings[i + 1] ?? '');
  });
  return fragment(text);
};

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** True for the identifiers `ident` accepts: letters, digits and `_`, not starting with a digit. */
export const isIdentifier = (name: string): boolean => IDENTIFIER.test(name);

/**
 * A (possibly dotted) identifier, back-quoted. Only plain names are accepted
 * rather than escaped: the names we generate never need more, and chDB's
 * insert path accepts nothing else.
 *
 * @example ident('lectern', 'visits') // `lectern`.`visits`
 */
export const ident = (...parts: readonly string[]): ChSql => {
  if (parts.length === 0) throw new RangeError('ident needs at least one name');
  for (const p of parts) {
    if (!isIdentifier(p)) throw new RangeError(`not a plain identifier: ${JSON.stringify(p)}`);
  }
  return fragment(parts.map((p) => `\`${p}\``).join('.'));
};

/**
 * Trusted SQL text, spliced in verbatim. Only for text written in our own
 * source (a clause chosen from a fixed set), never for input.
 */
export const raw = (text: string): ChSql => fragment(text);

/** `parts` joined by `separator` (default `, `), for building lists of fragments. */
export const join = (parts: readonly ChSql[], separator = ', '): ChSql =>
  fragment(parts.map((p) => p.text).join(separator));
