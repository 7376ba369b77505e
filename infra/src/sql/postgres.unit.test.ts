import test from 'ava';
import pg from 'pg';
import { connectionFailed } from './postgres.ts';

const serverError = (code: string, severity = 'ERROR'): pg.DatabaseError => {
  const error = new pg.DatabaseError('from the server', 0, 'error');
  error.code = code;
  error.severity = severity;
  return error;
};

test('an SQL error keeps its connection; a failed session does not', (t) => {
  // The session is fine after these: the server answered and waits for the next query.
  for (const code of ['23505', 'P0409', '22012', '40001', '57014', '42P01'])
    t.false(connectionFailed(serverError(code)), code);
  // The session is gone or going.
  t.true(connectionFailed(serverError('57P01', 'FATAL')), 'admin shutdown');
  t.true(connectionFailed(serverError('57P02')), 'crash shutdown');
  t.true(connectionFailed(serverError('08006')), 'connection failure');
  t.true(connectionFailed(serverError('XX000', 'PANIC')), 'panic');
  t.true(connectionFailed(new Error('Connection terminated unexpectedly')), 'no answer from the server');
  t.true(connectionFailed(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' })), 'a socket error');
  t.true(connectionFailed('not even an error'));
});
