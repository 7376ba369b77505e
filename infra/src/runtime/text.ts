/**
 * Text cut to a length for a log line, a header, a table or an event.
 * `slice` counts UTF-16 code units and may cut a surrogate pair in two;
 * the half left is not Unicode, and PostgreSQL's jsonb, ClickHouse and a
 * strict JSON reader all refuse it. `clip` never leaves one, and mends any
 * lone surrogate the text already had (as U+FFFD).
 *
 * @example clip('done 🎓', 6) // 'done ' (not 'done \ud83c')
 */
export const clip = (text: string, max: number): string => {
  const cut = text.length > max ? text.slice(0, max) : text;
  return (/[\uD800-\uDBFF]$/.test(cut) && cut.length < text.length ? cut.slice(0, -1) : cut).toWellFormed();
};
