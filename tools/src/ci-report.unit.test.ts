import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * What CI shows of a run is its tail: the totals line `.ci/run` prints from
 * ava's output, and above it the failures. Both read ava 8's default reporter,
 * so each is checked here against output of the shapes that reporter prints.
 */
const run = (flag: '--summarize' | '--failures', output: string): string => {
  const dir = mkdtempSync(join(tmpdir(), 'ci-report-'));
  try {
    const file = join(dir, 'test-output.log');
    writeFileSync(file, output);
    return execFileSync('bash', ['.ci/run', flag, file], { encoding: 'utf8' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};

const green = `  ✔ a › first (1s)
  ✔ a › second
{"level":50,"msg":"a process's own log line"}
  ─

  2 tests passed
`;

const red = `  ✔ a › first (1s)
  ✘ [fail]: b › reads its row Rejected promise returned by test
  ✔ [expected fail] c › a known failure
  ✔ a › second
{"level":50,"msg":"a process's own log line"}
(node:42) TimeoutNegativeWarning: -1 is a negative number.
  ─

  b › reads its row

  Rejected promise returned by test. Reason:
    ℹ what the test logged

  TypeError {
    message: 'Cannot read properties of undefined',
  }

  ─

  1 test failed
  1 known failure
`;

test('the totals: a green run counts its passes from the footer, a red one from its ✔ lines', (t) => {
  t.is(run('--summarize', green), '2 passed, 0 failed\n');
  t.is(run('--summarize', red), '2 passed, 1 failed\n', 'a known failure is neither');
  t.is(
    run('--summarize', `  ✔ a\n  ✘ [fail]: b\nthe test run was stopped after 45m\n`),
    '1 passed, 2 failed\n',
    'a run stopped at its limit: its ✘ lines and the stop',
  );
});

test('a red run names its failures: the details without log lines, then the failing tests, last', (t) => {
  t.is(
    run('--failures', red),
    `==> the failures, in detail
  ─

  b › reads its row

  Rejected promise returned by test. Reason:

  TypeError {
    message: 'Cannot read properties of undefined',
  }

  ─

==> the failing tests
  ✘ [fail]: b › reads its row Rejected promise returned by test
`,
  );
});

test('a green run prints no failures; a run stopped before its details prints the failing tests alone', (t) => {
  t.is(run('--failures', green), '');
  t.is(
    run('--failures', `  ✔ a\n  ✘ [fail]: b › hangs\nthe test run was stopped after 45m\n`),
    '==> the failing tests\n  ✘ [fail]: b › hangs\n',
  );
});

test('at most 20 failing tests, each cut at 400 bytes', (t) => {
  const many = Array.from({ length: 23 }, (_, i) => `  ✘ [fail]: t${i} ${'x'.repeat(500)}`).join('\n');
  const lines = run('--failures', `${many}\n`).trimEnd().split('\n');
  t.is(lines[0], '==> the failing tests');
  t.is(lines.length, 22);
  t.is(Buffer.byteLength(lines[1] ?? ''), 400, 'awk counts bytes');
  t.is(lines.at(-1), '... and 3 more');
});
