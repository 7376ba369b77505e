import test from 'ava';
import { maskAddress } from './reaction.ts';

test('an address is masked to tell two apart, not to write to', (t) => {
  t.is(maskAddress('ada@example.org'), 'a…@example.org');
  t.is(maskAddress('+4915112345678'), '+49…78');
  t.is(maskAddress('+49151'), '…');
});

test('masking cuts by character: an address outside the BMP stays valid Unicode', (t) => {
  const masked = [maskAddress('🎓ada@example.org'), maskAddress('tok-🎓🎓🎓🎓🎓🎓')];
  t.deepEqual(masked, ['🎓…@example.org', 'tok…🎓🎓']);
  for (const m of masked) t.true(m.isWellFormed(), m);
});
