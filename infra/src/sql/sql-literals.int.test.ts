import test from 'ava';
import { sqlEngines } from '../testing/sql-engines.ts';
import { copyLine, sqlArray, sqlState, UNIQUE_VIOLATION } from './index.ts';

/** Strings an array literal must carry unchanged: its own syntax, escapes, nothing, and the word NULL. */
const AWKWARD = [
  'plain',
  '',
  'with "quotes"',
  'back\\slash and \\"both\\"',
  '{braces}, commas, spaces',
  'NULL',
  'tab\tnew\nline',
  'carriage\r\nreturn',
  '\\.',
  '\\N',
  'ünïcødé ✓ 🎓',
  ' leading and trailing ',
];

for (const { name, open } of sqlEngines(test, 'array literals'))
  test(`${name}: sqlArray's literal reaches the server as the same elements, nulls and numbers included`, async (t) => {
    const { sql, close } = await open();
    try {
      const texts = [...AWKWARD, null];
      const rows = await sql.query<{ v: string | null }>(
        'select v from unnest($1::text[]) with ordinality as u(v, n) order by u.n',
        [sqlArray(texts)],
      );
      t.deepEqual(
        rows.map((r) => r.v),
        texts,
      );
      const [numbers] = await sql.query<{ a: string }>(
        `select array_to_string($1::bigint[], ',', 'null') || ' ' || array_to_string($2::float8[], ',') as a`,
        [sqlArray([1, null, -9007199254740991, 42n ** 5n]), sqlArray([0.5, -1.25])],
      );
      t.is(numbers?.a, `1,null,-9007199254740991,${42n ** 5n} 0.5,-1.25`);
      const [empty] = await sql.query<{ n: number }>('select cardinality($1::text[]) as n', [sqlArray([])]);
      t.is(empty?.n, 0);
    } finally {
      await close();
    }
  });

const COPIED = 'create table copied (n int primary key, v text, big bigint)';

for (const { name, open } of sqlEngines(test, 'COPY lines'))
  test(`${name}: copyIn loads copyLine's rows unchanged, in a transaction or not; a duplicate fails the load and nothing of it stays`, async (t) => {
    const { sql, close } = await open();
    try {
      await sql.exec(COPIED);
      const texts = [...AWKWARD, null];
      await sql.copyIn(
        'copied',
        ['n', 'v', 'big'],
        texts.map((v, n) => copyLine([n, v, n === 0 ? 42n ** 5n : null])).join(''),
      );
      const rows = await sql.query<{ v: string | null; big: string | null }>(
        'select v, big::text as big from copied order by n',
      );
      t.deepEqual(
        rows.map((r) => r.v),
        texts,
      );
      t.is(rows[0]?.big, String(42n ** 5n));
      t.is(rows[1]?.big, null);

      const more = copyLine([100, 'in a transaction', -1]) + copyLine([101, 'and another', 2]);
      await sql.transaction((tx) => tx.copyIn('copied', ['n', 'v', 'big'], more));
      t.is((await sql.query('select 1 from copied where n >= 100')).length, 2);

      // A duplicate key: the load fails whole, its transaction with it, and the engine still answers.
      const duplicate = copyLine([200, 'new', 0]) + copyLine([100, 'again', 0]);
      const outside = await t.throwsAsync(sql.copyIn('copied', ['n', 'v', 'big'], duplicate));
      t.is(sqlState(outside), UNIQUE_VIOLATION);
      const inside = await t.throwsAsync(
        sql.transaction(async (tx) => {
          await tx.query(`insert into copied (n, v) values (300, 'before the load')`);
          await tx.copyIn('copied', ['n', 'v', 'big'], duplicate);
        }),
      );
      t.is(sqlState(inside), UNIQUE_VIOLATION);
      t.deepEqual(await sql.query('select n from copied where n in (200, 300)'), []);
      t.is((await sql.query('select 1 from copied')).length, texts.length + 2);
    } finally {
      await close();
    }
  });
