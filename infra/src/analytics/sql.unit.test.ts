import test from 'ava';
import { ch, ident, isChSql, join, quoteString, raw } from './sql.ts';

/**
 * Reads a ClickHouse string literal the way its parser does: returns the
 * value and where the literal ended. Only the escapes quoteString emits.
 */
const readLiteral = (text: string): { value: string; end: number } => {
  if (text[0] !== "'") throw new Error('not a literal');
  const simple: Record<string, string> = {
    '\\': '\\',
    "'": "'",
    '0': '\0',
    b: '\b',
    f: '\f',
    n: '\n',
    r: '\r',
    t: '\t',
  };
  let value = '';
  for (let i = 1; i < text.length; i++) {
    const c = text[i]!;
    if (c === "'") return { value, end: i + 1 };
    if (c !== '\\') {
      value += c;
      continue;
    }
    const next = text[i + 1]!;
    if (next === 'x') {
      value += String.fromCharCode(parseInt(text.slice(i + 2, i + 4), 16));
      i += 3;
    } else {
      const s = simple[next];
      if (s === undefined) throw new Error(`unexpected escape \\${next}`);
      value += s;
      i += 1;
    }
  }
  throw new Error('unterminated literal');
};

test('quoteString escapes quotes, backslashes and control characters', (t) => {
  t.is(quoteString(''), "''");
  t.is(quoteString("O'Brien"), "'O\\'Brien'");
  t.is(quoteString('a\\b'), "'a\\\\b'");
  t.is(quoteString("\\'"), "'\\\\\\''");
  t.is(quoteString('\0\b\f\n\r\t'), "'\\0\\b\\f\\n\\r\\t'");
  t.is(quoteString('\u0001\u001f\u007f'), "'\\x01\\x1f\\x7f'");
  t.is(quoteString('🎓 ü 中'), "'🎓 ü 中'");
});

test('a quoted string always reads back as itself and ends where it should', (t) => {
  const alphabet = [
    "'",
    '\\',
    '"',
    '`',
    '\n',
    '\r',
    '\0',
    ';',
    '-',
    '/',
    '*',
    'x',
    '0',
    'a',
    ' ',
    '\u0007',
    '🎓',
  ];
  let seed = 42;
  const random = () => {
    // A fixed LCG: the same strings on every run, so a failure reproduces.
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  for (let n = 0; n < 2000; n++) {
    const length = Math.floor(random() * 12);
    const s = Array.from({ length }, () => alphabet[Math.floor(random() * alphabet.length)]!).join('');
    const quoted = quoteString(s);
    const read = readLiteral(`${quoted} tail`);
    if (read.value !== s || read.end !== quoted.length) {
      t.fail(`${JSON.stringify(s)} → ${quoted} read as ${JSON.stringify(read)}`);
      return;
    }
  }
  t.pass();
});

test('ch renders values as literals and fragments as SQL', (t) => {
  const q = ch`SELECT ${'a'}, ${42}, ${-1}, ${1.5}, ${12n}, ${-3n}, ${true}, ${false}, ${null} FROM ${ident('db', 'events')}
    WHERE type IN (${['x', "y'"]}) AND ${raw('1 = 1')} ${ch`AND user_id = ${'u'}`}`;
  t.true(isChSql(q));
  t.is(
    q.text,
    `SELECT 'a', 42, (-1), 1.5, 12, (-3), 1, 0, NULL FROM \`db\`.\`events\`
    WHERE type IN ('x', 'y\\'') AND 1 = 1 AND user_id = 'u'`,
  );
  t.is(ch`x - ${-1}`.text, 'x - (-1)', 'a negative number never makes a -- comment');
  t.is(join([ident('a'), ident('b')]).text, '`a`, `b`');
});

test('ch refuses values it cannot render faithfully', (t) => {
  t.throws(() => ch`${Number.NaN}`, { instanceOf: RangeError });
  t.throws(() => ch`${Infinity}`, { instanceOf: RangeError });
  t.throws(() => ch`${2 ** 60}`, { instanceOf: RangeError, message: /bigint/ });
  t.throws(() => ch`${[]}`, { instanceOf: RangeError, message: /empty list/ });
  t.throws(() => ch`${new Date() as never}`, { instanceOf: TypeError });
  t.throws(() => ch`${undefined as never}`, { instanceOf: TypeError });
  t.throws(
    () => ch`${{ text: 'DROP TABLE x' } as never}`,
    { instanceOf: TypeError },
    'a look-alike is not a fragment',
  );
});

test('ident accepts plain names only', (t) => {
  t.is(ident('lectern_test_1').text, '`lectern_test_1`');
  for (const bad of ['', '1a', 'a-b', 'a b', 'a`b', 'a.b', "a'b", 'événements']) {
    t.throws(() => ident(bad), { instanceOf: RangeError }, JSON.stringify(bad));
  }
  t.throws(() => ident(), { instanceOf: RangeError });
});
