import test from 'ava';
import { clip } from './text.ts';

test('clip cuts at most max code units and never through a surrogate pair', (t) => {
  t.is(clip('done 🎓', 6), 'done ');
  t.is(clip('done 🎓', 7), 'done 🎓');
  t.is(clip('short', 100), 'short');
  t.true(clip('🎓'.repeat(10), 5).isWellFormed());
  t.is(clip('🎓'.repeat(10), 5).length, 4);
});

test('clip mends a lone surrogate the text already had', (t) => {
  t.is(clip('bad \udc00 end', 100), 'bad \ufffd end');
});
