import test from 'ava';
import { sqlEngines } from '../testing/sql-engines.ts';
import { rowHashOf, verifyTable } from './rebuild-verify.ts';

/**
 * The checksum of a rebuild's verification: rows hashed by their columns'
 * own hash functions where every column type has one, by their text where
 * not; either way a damaged row is found, and equal tables agree.
 */
for (const { name: label, open } of sqlEngines(test, 'rebuild verification'))
  test(`${label}: a table whose column types all hash is hashed by columns, one with a tsvector by text; both find a damaged row`, async (t) => {
    const { sql, close } = await open();
    try {
      await sql.exec(`
        create table hashed_live (id uuid primary key, name text, at timestamptz, n bigint, doc jsonb, tags text[]);
        create table hashed_shadow (like hashed_live including all);
        create table texted_live (id int primary key, words tsvector);
        create table texted_shadow (like texted_live including all);
        insert into hashed_live
          select gen_random_uuid(), 'row ' || g, '2026-01-01'::timestamptz + g * interval '1 minute', g,
                 jsonb_build_object('g', g), array['a', 'b' || g]
            from generate_series(1, 50) g;
        insert into hashed_shadow select * from hashed_live;
        insert into texted_live select g, to_tsvector('simple', 'word ' || g) from generate_series(1, 50) g;
        insert into texted_shadow select * from texted_live;`);
      t.is(await rowHashOf(sql, 'hashed_live'), 'columns');
      t.is(await rowHashOf(sql, 'texted_live'), 'text');

      for (const [name, hash] of [
        ['hashed', 'columns'],
        ['texted', 'text'],
      ] as const) {
        const same = await verifyTable(sql, name, `${name}_live`, `${name}_shadow`, { hash });
        t.is(same.differingRows, 0, `${name}: equal tables agree`);
        t.is(same.liveChecksum, same.rebuiltChecksum);
        t.regex(same.liveChecksum, /^[0-9]+$/, 'a non-negative decimal, as the API says');
        t.not(same.liveChecksum, '0');
      }
      await sql.exec(`update hashed_shadow set n = n + 1 where name = 'row 7';
                      update texted_shadow set words = to_tsvector('simple', 'changed') where id = 7`);
      const hashed = await verifyTable(sql, 'hashed', 'hashed_live', 'hashed_shadow', { hash: 'columns' });
      t.not(hashed.liveChecksum, hashed.rebuiltChecksum);
      t.is(hashed.differingRows, 1);
      const texted = await verifyTable(sql, 'texted', 'texted_live', 'texted_shadow', { hash: 'text' });
      t.not(texted.liveChecksum, texted.rebuiltChecksum);
      t.deepEqual(texted.differingKeys, [{ id: '7' }]);
    } finally {
      await close();
    }
  });
