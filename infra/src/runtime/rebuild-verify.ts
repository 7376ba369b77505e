import type { SqlExecutor } from '../sql/sql.ts';

/**
 * How a rebuilt read model is compared with the live one before it is
 * swapped in: per table, the row count and a checksum over a canonical
 * rendering of every row, and where they differ, the keys of the rows that
 * do. Both sides are the same DDL (one `ddl` made them), so a row's hash
 * is comparable across them: each column hashed by its type's own hash
 * function, in table order (`hash_record_extended`), or, for a table with a
 * column type that has none (`tsvector`, `json`), the md5 of the row's text
 * rendering (`t::text`), about four times dearer. The checksum is a sum of
 * each row's hash, so it needs no order and no memory beyond one row.
 */

/** What the comparison found for one table of the model. */
export type TableVerification = Readonly<{
  table: string;
  liveRows: number;
  rebuiltRows: number;
  /** The sum of every row's hash (its 63 low bits, see `RowHash`), as a decimal string. */
  liveChecksum: string;
  rebuiltChecksum: string;
  /** Rows present on one side only, or different; 0 when the table matches. */
  differingRows: number;
  /** The first `DIFFERING_KEYS_SHOWN` of them, by primary key (each key column and its value as text). */
  differingKeys: readonly Readonly<Record<string, string>>[];
}>;

export const DIFFERING_KEYS_SHOWN = 20;

/** The columns of a table's primary key, in key order; empty when it has none. */
export const primaryKeyOf = async (tx: SqlExecutor, table: string): Promise<string[]> =>
  (
    await tx.query<{ name: string }>(
      `select a.attname as name
         from pg_index i
         join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey)
        where i.indrelid = $1::regclass and i.indisprimary
        order by array_position(i.indkey::int2[], a.attnum)`,
      [table],
    )
  ).map((r) => r.name);

const quote = (column: string): string => `"${column.replaceAll('"', '""')}"`;

/** How a table's rows are hashed for its checksum (see above). */
export type RowHash = 'columns' | 'text';

/** The 63 low bits of a row's hash, as SQL over the row `t`: non-negative, so their sum is too. */
const rowHashSql: Record<RowHash, string> = {
  columns: `(hash_record_extended(t, 0) & 9223372036854775807)`,
  text: `('x' || left(md5(t::text), 16))::bit(64)::bigint & 9223372036854775807`,
};

/**
 * `columns` when every column type of `table` has a hash function (the
 * function looks each one up before it hashes a row, so a row of nulls
 * tells), else `text`. Asked outside any transaction (a refusal would end it).
 */
export const rowHashOf = (q: SqlExecutor, table: string): Promise<RowHash> =>
  q.query(`select ${rowHashSql.columns} from (select (null::${table}).*) t`).then(
    (): RowHash => 'columns',
    (): RowHash => 'text',
  );

const summary = async (
  tx: SqlExecutor,
  table: string,
  hash: RowHash,
): Promise<{ rows: number; checksum: string }> => {
  const [row] = await tx.query<{ rows: string; checksum: string }>(
    `select count(*)::text as rows, coalesce(sum(${rowHashSql[hash]}), 0)::text as checksum from ${table} t`,
  );
  return { rows: Number(row!.rows), checksum: row!.checksum };
};

/**
 * Compares `rebuilt` with `live` (schema-qualified names of one logical
 * table). Rows are matched by the primary key; a table without one is
 * matched by whole rows.
 */
export const verifyTable = async (
  tx: SqlExecutor,
  name: string,
  live: string,
  rebuilt: string,
  opts: Readonly<{
    /** How rows are hashed (`rowHashOf` the live table); `text` when not given. */
    hash?: RowHash;
    /**
     * Where the rebuilt table's summary is read, when not on `tx`: another
     * connection reads it while `tx` reads the live one (the rebuilt table
     * is written and committed, and nothing moves it), so the two take two
     * cores. Only where the database has another connection to give.
     */
    rebuiltOn?: SqlExecutor;
  }> = {},
): Promise<TableVerification> => {
  const hash = opts.hash ?? 'text';
  const [l, r] = await Promise.all([summary(tx, live, hash), summary(opts.rebuiltOn ?? tx, rebuilt, hash)]);
  const base = {
    table: name,
    liveRows: l.rows,
    rebuiltRows: r.rows,
    liveChecksum: l.checksum,
    rebuiltChecksum: r.checksum,
  };
  if (l.rows === r.rows && l.checksum === r.checksum) return { ...base, differingRows: 0, differingKeys: [] };
  const key = await primaryKeyOf(tx, live);
  const on = key.length ? key.map((c) => `l.${quote(c)} = r.${quote(c)}`).join(' and ') : 'l::text = r::text';
  const keyJson = key.length
    ? `json_build_object(${key.map((c) => `'${c.replaceAll("'", "''")}', coalesce(l.${quote(c)}, r.${quote(c)})::text`).join(', ')})`
    : `json_build_object('row', coalesce(l::text, r::text))`;
  const differing = `from ${live} l full join ${rebuilt} r on ${on} where l::text is distinct from r::text`;
  const [count] = await tx.query<{ n: string }>(`select count(*)::text as n ${differing}`);
  const keys = await tx.query<{ key: Record<string, string> }>(
    `select key from (select ${keyJson} as key ${differing}) d order by key::text limit ${DIFFERING_KEYS_SHOWN}`,
  );
  return { ...base, differingRows: Number(count!.n), differingKeys: keys.map((k) => k.key) };
};

/** A table compared as it stood at a past position (`lectern diff --at P`): the rows that moved on are apart. */
export type TableVerificationAt = TableVerification &
  Readonly<{
    /** Rows that events after the position changed, made or removed: not comparable with the live row now. */
    movedOnRows: number;
    /** The first `DIFFERING_KEYS_SHOWN` of them, by primary key. */
    movedOnKeys: readonly Readonly<Record<string, string>>[];
  }>;

/**
 * Compares the live table with `atPosition`, a replay of the events up to
 * a position P, where `now` is a replay of every event the live model has
 * applied. The live table holds only its current state, so a row is judged
 * at P only where the events after P left it as it was at P (`atPosition`
 * and `now` agree on it): then the live row must be that row, and a
 * difference is a difference. A row where they disagree has moved on since
 * P (an event after P changed, made or removed it) and is counted apart,
 * never as a difference. The three tables are one DDL; rows are matched by
 * the primary key, or by whole rows where there is none.
 */
export const verifyTableAt = async (
  tx: SqlExecutor,
  name: string,
  live: string,
  atPosition: string,
  now: string,
  hash: RowHash = 'text',
): Promise<TableVerificationAt> => {
  const [l, r] = [await summary(tx, live, hash), await summary(tx, atPosition, hash)];
  const key = await primaryKeyOf(tx, live);
  const either = (c: string) => `coalesce(a.${quote(c)}, n.${quote(c)})`;
  const onNow = key.length
    ? key.map((c) => `n.${quote(c)} = a.${quote(c)}`).join(' and ')
    : 'n::text = a::text';
  const onLive = key.length
    ? key.map((c) => `l.${quote(c)} = ${either(c)}`).join(' and ')
    : 'l::text = coalesce(a::text, n::text)';
  const keyJson = key.length
    ? `json_build_object(${key.map((c) => `'${c.replaceAll("'", "''")}', coalesce(l.${quote(c)}, ${either(c)})::text`).join(', ')})`
    : `json_build_object('row', coalesce(l::text, a::text, n::text))`;
  const rows = `(select ${keyJson} as key, a::text is distinct from n::text as moved,
                        l::text is distinct from a::text as differs
                   from ${atPosition} a full join ${now} n on ${onNow} full join ${live} l on ${onLive}) d`;
  const [count] = await tx.query<{ differing: string; moved: string }>(
    `select count(*) filter (where differs and not moved)::text as differing,
            count(*) filter (where moved)::text as moved
       from ${rows}`,
  );
  const keysWhere = async (where: string) =>
    (
      await tx.query<{ key: Record<string, string> }>(
        `select key from ${rows} where ${where} order by key::text limit ${DIFFERING_KEYS_SHOWN}`,
      )
    ).map((k) => k.key);
  const differingRows = Number(count!.differing);
  const movedOnRows = Number(count!.moved);
  return {
    table: name,
    liveRows: l.rows,
    rebuiltRows: r.rows,
    liveChecksum: l.checksum,
    rebuiltChecksum: r.checksum,
    differingRows,
    differingKeys: differingRows ? await keysWhere('differs and not moved') : [],
    movedOnRows,
    movedOnKeys: movedOnRows ? await keysWhere('moved') : [],
  };
};
