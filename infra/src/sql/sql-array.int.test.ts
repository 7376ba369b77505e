import test from 'ava';
import { sqlEngines } from '../testing/sql-engines.ts';
import { sqlArray } from './index.ts';

/** Strings an array literal must carry unchanged: its own syntax, escapes, nothing, and the word NULL. */
const AWKWARD = [
  'plain',
  '',
  'with "quotes"',
  'back\\slash and \\"both\\"',
  '{braces}, commas, spaces',
  'NULL',
  'tab\tnew\nline',
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
