import { readFileSync } from 'node:fs';
import test from 'ava';
import { placeholdersOf, smsSegments, templateRenderer } from './render.ts';
import { canBeSwitchedOff, templates, type Template } from './templates.ts';

const examples = (t: Template) =>
  Object.fromEntries(Object.entries(t.variables).map(([k, v]) => [k, v.example]));
const locales = (t: Template) => [
  ...new Set([...Object.keys(t.email ?? {}), ...Object.keys(t.sms ?? {}), ...Object.keys(t.push ?? {})]),
];

test('every template renders in each of its languages with its examples, and leaves no placeholder', async (t) => {
  const renderer = templateRenderer();
  for (const template of templates)
    for (const locale of locales(template)) {
      const r = await renderer.render(template.id, { locale, variables: examples(template) });
      t.true(r.ok, `${template.id}/${locale}: ${JSON.stringify(r)}`);
      if (!r.ok) continue;
      t.false(JSON.stringify(r.value).includes('{{'), `${template.id}/${locale} left a placeholder`);
      t.is(r.value.version, template.version);
    }
});

test('every placeholder is a declared variable and every variable is used', (t) => {
  for (const template of templates)
    t.deepEqual([...placeholdersOf(template)].sort(), Object.keys(template.variables).sort(), template.id);
});

test('e-mails that can be switched off carry an unsubscribe link; security ones cannot be', (t) => {
  for (const template of templates) {
    const uses = placeholdersOf(template).has('unsubscribeUrl');
    t.is(uses, canBeSwitchedOff(template), template.id);
  }
  t.false(canBeSwitchedOff(templates.find((x) => x.id === 'reset-password')!));
});

test('values are HTML-escaped in the HTML part, and as given in the text part', async (t) => {
  const r = await templateRenderer().render('announcement', {
    locale: 'en',
    variables: {
      title: 'Hi <script>alert(1)</script>',
      message: 'A & B "quoted"',
      url: 'https://x.example/?a=1&b=2',
      unsubscribeUrl: 'https://x.example/u',
    },
  });
  if (!r.ok) return t.fail(JSON.stringify(r.problems));
  const email = r.value.email!;
  t.false(email.html.includes('<script>'));
  t.true(email.html.includes('Hi &lt;script&gt;alert(1)&lt;/script&gt;'));
  t.true(email.html.includes('href="https://x.example/?a=1&amp;b=2"'));
  t.true(email.text.includes('Hi <script>alert(1)</script>'));
  t.true(email.text.includes('A & B "quoted"'));
  t.is(email.subject, 'Hi <script>alert(1)</script>');
  t.is(r.value.push?.data.url, 'https://x.example/?a=1&b=2');
});

test('a missing, an unknown and an ill-typed variable are all reported, each with its pointer', async (t) => {
  const r = await templateRenderer().render('reset-password', {
    locale: 'en',
    variables: { link: 'javascript:alert(1)', colour: 'red' },
  });
  t.false(r.ok);
  if (r.ok) return;
  t.deepEqual(
    r.problems.map((p) => [p.pointer, p.code]),
    [
      ['/variables/link', 'template_variable_invalid'],
      ['/variables/expiresInMinutes', 'template_variable_missing'],
      ['/variables/colour', 'template_variable_unknown'],
    ],
  );
  const blank = await templateRenderer().render('welcome', {
    locale: 'en',
    variables: { email: '', appUrl: 'https://a.example' },
  });
  t.like(blank, {
    ok: false,
    problems: [{ pointer: '/variables/email', code: 'template_variable_missing' }],
  });
  t.like(await templateRenderer().render('nope', { locale: 'en', variables: {} }), {
    ok: false,
    problems: [{ pointer: '/template', code: 'template_unknown' }],
  });
});

test('the nearest translation: exact, then the language, then English', async (t) => {
  const renderer = templateRenderer();
  const variables = { link: 'https://app.example/reset-password#token=t', expiresInMinutes: 15 };
  const at = await renderer.render('reset-password', { locale: 'de-AT', variables });
  const fr = await renderer.render('reset-password', { locale: 'fr', variables });
  t.like(at, { ok: true, value: { locale: 'de', email: { subject: 'Setzen Sie Ihr Passwort zurück' } } });
  t.like(fr, { ok: true, value: { locale: 'en', email: { subject: 'Reset your password' } } });
});

test('MJML is compiled once per template version and language', async (t) => {
  const renderer = templateRenderer();
  const variables = { email: 'ada@example.org', appUrl: 'https://app.example' };
  await renderer.render('welcome', { locale: 'en', variables });
  await renderer.render('welcome', {
    locale: 'en-GB',
    variables: { ...variables, email: 'bob@example.org' },
  });
  t.is(renderer.compilations(), 1);
  await renderer.render('welcome', { locale: 'de', variables });
  t.is(renderer.compilations(), 2);
  // Only the channels asked for.
  await renderer.render('course-published', {
    locale: 'en',
    variables: {
      courseTitle: 'C',
      courseUrl: 'https://a.example/c',
      authorName: 'A',
      unsubscribeUrl: 'https://a.example/u',
    },
    channels: ['push'],
  });
  t.is(renderer.compilations(), 2);
});

test('SMS segments: GSM-7 160 then 153 a part, extension characters count twice, anything else is UCS-2', (t) => {
  t.deepEqual(smsSegments('a'.repeat(160)), { encoding: 'gsm-7', segments: 1 });
  t.deepEqual(smsSegments('a'.repeat(161)), { encoding: 'gsm-7', segments: 2 });
  t.deepEqual(smsSegments('€'.repeat(80)), { encoding: 'gsm-7', segments: 1 });
  t.deepEqual(smsSegments('€'.repeat(81)), { encoding: 'gsm-7', segments: 2 });
  t.deepEqual(smsSegments('Hi 👋'), { encoding: 'ucs-2', segments: 1 });
  t.deepEqual(smsSegments('ж'.repeat(71)), { encoding: 'ucs-2', segments: 2 });
});

test('an SMS over three segments is refused', async (t) => {
  const r = await templateRenderer().render('course-published', {
    locale: 'en',
    variables: {
      courseTitle: 'ж'.repeat(200),
      courseUrl: 'https://a.example/c',
      authorName: 'A',
      unsubscribeUrl: 'https://a.example/u',
    },
    channels: ['sms'],
  });
  t.like(r, { ok: false, problems: [{ pointer: '/variables/courseTitle', code: 'sms_too_long' }] });
  // 'New on Lectern: ' + 200 + ' by A. ' + 19: 242 UTF-16 units, four segments of 67.
  t.is(
    r.ok ? null : r.problems[0]!.message,
    'sms: the text renders to 242 UTF-16 units (4 segments, ucs-2); at most 3 segments, 201 in ucs-2; ' +
      'the variable courseTitle makes it too long',
  );
});

test('an SMS too long by two values together names no one variable', async (t) => {
  const r = await templateRenderer().render('course-published', {
    locale: 'en',
    variables: {
      courseTitle: 'ж'.repeat(199),
      courseUrl: 'https://a.example/c',
      authorName: 'ж'.repeat(199),
      unsubscribeUrl: 'https://a.example/u',
    },
    channels: ['sms'],
  });
  t.false(r.ok);
  const [problem, ...others] = r.ok ? [] : r.problems;
  t.deepEqual(others, []);
  t.like(problem, { pointer: '/variables', code: 'sms_too_long' });
  t.regex(
    problem!.message,
    /^sms: the text renders to 439 UTF-16 units \(7 segments, ucs-2\); at most 3 segments, 201 in ucs-2$/,
  );
});

test('a push names its part, its length, its limit and the variable that passes it', async (t) => {
  const r = await templateRenderer().render('announcement', {
    locale: 'en',
    variables: {
      title: 'T'.repeat(101),
      message: 'Short.',
      url: 'https://a.example/n',
      unsubscribeUrl: 'https://a.example/u',
    },
    channels: ['push'],
  });
  t.deepEqual(r.ok ? [] : r.problems, [
    {
      pointer: '/variables/title',
      code: 'push_too_long',
      message: 'push title: renders to 101 characters; at most 100; the variable title makes it too long',
    },
  ]);
  // The same title fits an e-mail subject: the e-mail alone renders.
  t.true(
    (
      await templateRenderer().render('announcement', {
        locale: 'en',
        variables: {
          title: 'T'.repeat(101),
          message: 'Short.',
          url: 'https://a.example/n',
          unsubscribeUrl: 'https://a.example/u',
        },
        channels: ['email'],
      })
    ).ok,
  );
});

test('docs/contexts/notifications.md lists every template and each of its variables', (t) => {
  const page = readFileSync(new URL('../../../docs/contexts/notifications.md', import.meta.url), 'utf8');
  for (const template of templates) {
    t.true(page.includes(`\`${template.id}\``), template.id);
    for (const name of Object.keys(template.variables))
      t.true(page.includes(`\`${name}\``), `${template.id}: ${name}`);
  }
});
