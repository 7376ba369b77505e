import mjml2html from 'mjml';
import { templateById, type Channel, type Template, type Variable } from './templates.ts';

/** One reason a template cannot be rendered with the given variables, with a JSON pointer into the request. */
export type RenderProblem = Readonly<{ pointer: string; code: string; message: string }>;

export type RenderedEmail = Readonly<{ subject: string; html: string; text: string }>;
export type RenderedSms = Readonly<{ text: string; encoding: 'gsm-7' | 'ucs-2'; segments: number }>;
export type RenderedPush = Readonly<{ title: string; body: string; data: Readonly<Record<string, string>> }>;

export type Rendered = Readonly<{
  template: string;
  version: number;
  /** The translation used (of the e-mail when there is one, else of the first channel). */
  locale: string;
  email?: RenderedEmail;
  sms?: RenderedSms;
  push?: RenderedPush;
}>;

export type RenderResult =
  Readonly<{ ok: true; value: Rendered }> | Readonly<{ ok: false; problems: readonly RenderProblem[] }>;

export type RenderInput = Readonly<{
  /** A BCP 47 tag: `de-AT` falls back to `de`, then to `en`. */
  locale: string;
  variables: Readonly<Record<string, unknown>>;
  /** The channels to render; all the template has when absent. */
  channels?: readonly Channel[];
}>;

/** The longest SMS we send: three concatenated segments. */
export const SMS_MAX_SEGMENTS = 3;
export const PUSH_TITLE_MAX = 100;
export const PUSH_BODY_MAX = 240;

const PLACEHOLDER = /\{\{\s*([A-Za-z][A-Za-z0-9]*)\s*\}\}/g;

// GSM 03.38: the basic set costs one septet, the extension table two; anything else makes the text UCS-2.
const GSM_BASIC = new Set(
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà',
);
const GSM_EXTENDED = new Set('^{}\\[~]|€\f');

/** How an SMS text is encoded and how many segments it costs (160/153 septets in GSM-7, 70/67 characters in UCS-2). */
export const smsSegments = (text: string): Readonly<{ encoding: 'gsm-7' | 'ucs-2'; segments: number }> => {
  let septets = 0;
  let gsm = true;
  for (const ch of text) {
    if (GSM_BASIC.has(ch)) septets += 1;
    else if (GSM_EXTENDED.has(ch)) septets += 2;
    else {
      gsm = false;
      break;
    }
  }
  if (gsm) return { encoding: 'gsm-7', segments: septets <= 160 ? 1 : Math.ceil(septets / 153) };
  // UCS-2 counts UTF-16 code units: an emoji is two.
  const units = text.length;
  return { encoding: 'ucs-2', segments: units <= 70 ? 1 : Math.ceil(units / 67) };
};

const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f]/; // eslint-disable-line no-control-regex -- what a single-line value must not hold

/** Whether a value is of a variable's type; the problem's message when not. */
const typeProblem = (v: Variable, value: unknown): string | null => {
  switch (v.type) {
    case 'integer':
      return Number.isSafeInteger(value) ? null : 'must be a whole number';
    case 'code':
      return typeof value === 'string' && /^\d{4,10}$/.test(value) ? null : 'must be 4 to 10 digits';
    case 'email':
      return typeof value === 'string' &&
        value.length <= 320 &&
        /^[^\s@<>"]+@[^\s@<>"]+\.[^\s@<>"]+$/.test(value)
        ? null
        : 'must be an e-mail address';
    case 'url': {
      if (typeof value !== 'string' || value.length > 2000) return 'must be an absolute http(s) URL';
      try {
        const u = new URL(value);
        return (u.protocol === 'https:' || u.protocol === 'http:') && !/\s/.test(value)
          ? null
          : 'must be an absolute http(s) URL';
      } catch {
        return 'must be an absolute http(s) URL';
      }
    }
    case 'text':
      return typeof value === 'string' &&
        value.trim().length > 0 &&
        value.length <= 200 &&
        !CONTROL.test(value)
        ? null
        : 'must be one line of 1 to 200 characters';
  }
};

const escapeHtml = (s: string): string =>
  s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');

/** Replaces every placeholder; the variables were checked to cover them all. */
const fill = (
  text: string,
  values: Readonly<Record<string, string>>,
  escape: (s: string) => string = (s) => s,
) => text.replace(PLACEHOLDER, (_m, name: string) => escape(values[name]!));

/** The translation of `texts` nearest to `locale`: exact, then its language, then English. */
const pick = <T>(texts: Readonly<Record<string, T>>, locale: string): { locale: string; value: T } | null => {
  const lower = locale.toLowerCase();
  const exact = Object.keys(texts).find((k) => k.toLowerCase() === lower);
  const language = Object.keys(texts).find((k) => k.toLowerCase() === lower.split('-')[0]);
  const key = exact ?? language ?? (texts.en ? 'en' : undefined);
  return key === undefined ? null : { locale: key, value: texts[key]! };
};

/** Every placeholder name a template's texts use, in any channel and language. */
export const placeholdersOf = (t: Template): ReadonlySet<string> => {
  const names = new Set<string>();
  const scan = (s: string) => {
    for (const m of s.matchAll(PLACEHOLDER)) names.add(m[1]!);
  };
  for (const e of Object.values(t.email ?? {})) [e.subject, e.mjml, e.text].forEach(scan);
  for (const s of Object.values(t.sms ?? {})) scan(s.text);
  for (const p of Object.values(t.push ?? {}))
    [p.title, p.body, ...Object.values(p.data ?? {})].forEach(scan);
  return names;
};

/** An SMS text's length as its encoding counts it: septets in GSM-7, UTF-16 code units in UCS-2. */
const smsLength = (text: string, encoding: 'gsm-7' | 'ucs-2'): number =>
  encoding === 'ucs-2' ? text.length : [...text].reduce((n, ch) => n + (GSM_EXTENDED.has(ch) ? 2 : 1), 0);

/**
 * The one variable that makes texts too long: the only one of those they
 * use whose value, left out, would let them fit. Null when none does alone
 * (the template's own text, or several values together) or several do.
 */
const soleCause = (
  sources: readonly string[],
  values: Readonly<Record<string, string>>,
  fits: (values: Record<string, string>) => boolean,
): string | null => {
  const used = new Set(sources.flatMap((s) => [...s.matchAll(PLACEHOLDER)].map((m) => m[1]!)));
  const causes = [...used].filter((name) => fits({ ...values, [name]: '' }));
  return causes.length === 1 ? causes[0]! : null;
};

/**
 * Renders templates (templates.ts). E-mail MJML is compiled once per
 * template version and language, with its placeholders in it, and the
 * compiled HTML is kept in this renderer; each message then only fills the
 * placeholders, HTML-escaped in the HTML part and as given in the subject
 * and the plain-text part.
 *
 * A message is never sent with a blank: every variable the template
 * declares must be given, none other, each of its type; all problems are
 * reported at once, each with a pointer (`/variables/<name>`).
 *
 * @example
 *   const renderer = templateRenderer();
 *   const r = await renderer.render('reset-password', { locale: 'de-AT', variables: { link, expiresInMinutes: 15 } });
 *   if (r.ok) await smtp.send({ …, subject: r.value.email!.subject, html: r.value.email!.html, text: r.value.email!.text });
 */
export const templateRenderer = () => {
  const compiled = new Map<string, Promise<string>>();
  let compilations = 0;

  const compile = (t: Template, locale: string, mjml: string): Promise<string> => {
    const key = `${t.id}@${t.version}/${locale}`;
    let html = compiled.get(key);
    if (!html) {
      compilations += 1;
      html = Promise.resolve(mjml2html(mjml, { validationLevel: 'strict', minify: false })).then((r) => {
        if (r.errors.length)
          throw new Error(
            `template ${key}: MJML errors: ${r.errors.map((e) => e.formattedMessage).join('; ')}`,
          );
        return r.html;
      });
      // A template bug is not cached: the next render reports it again.
      html.catch(() => compiled.delete(key));
      compiled.set(key, html);
    }
    return html;
  };

  const render = async (templateId: string, input: RenderInput): Promise<RenderResult> => {
    const t = templateById(templateId);
    if (!t)
      return {
        ok: false,
        problems: [
          { pointer: '/template', code: 'template_unknown', message: `there is no template '${templateId}'` },
        ],
      };
    // 1. The variables: each declared one given and of its type, no others.
    const problems: RenderProblem[] = [];
    const values: Record<string, string> = {};
    for (const [name, variable] of Object.entries(t.variables)) {
      const value = Object.hasOwn(input.variables, name) ? input.variables[name] : undefined;
      if (value === undefined || value === null || value === '') {
        problems.push({
          pointer: `/variables/${name}`,
          code: 'template_variable_missing',
          message: `is required by template ${t.id} (${variable.description})`,
        });
        continue;
      }
      const problem = typeProblem(variable, value);
      if (problem)
        problems.push({ pointer: `/variables/${name}`, code: 'template_variable_invalid', message: problem });
      else values[name] = String(value);
    }
    for (const name of Object.keys(input.variables))
      if (!Object.hasOwn(t.variables, name))
        problems.push({
          pointer: `/variables/${name}`,
          code: 'template_variable_unknown',
          message: `template ${t.id} has no such variable`,
        });
    if (problems.length) return { ok: false, problems };

    // 2. Each channel asked for, in the nearest language.
    const wanted = new Set(input.channels ?? (['email', 'sms', 'push'] as const));
    let locale: string | null = null;
    const out: { email?: RenderedEmail; sms?: RenderedSms; push?: RenderedPush } = {};
    if (wanted.has('email') && t.email) {
      const chosen = pick(t.email, input.locale)!;
      locale ??= chosen.locale;
      const html = await compile(t, chosen.locale, chosen.value.mjml);
      out.email = {
        subject: fill(chosen.value.subject, values).replace(/[\r\n]+/g, ' '),
        html: fill(html, values, escapeHtml),
        text: fill(chosen.value.text, values),
      };
    }
    if (wanted.has('sms') && t.sms) {
      const chosen = pick(t.sms, input.locale)!;
      locale ??= chosen.locale;
      const text = fill(chosen.value.text, values);
      const cost = smsSegments(text);
      if (cost.segments > SMS_MAX_SEGMENTS) {
        const fits = (v: Record<string, string>) =>
          smsSegments(fill(chosen.value.text, v)).segments <= SMS_MAX_SEGMENTS;
        const cause = soleCause([chosen.value.text], values, fits);
        problems.push({
          pointer: cause ? `/variables/${cause}` : '/variables',
          code: 'sms_too_long',
          message:
            `sms: the text renders to ${smsLength(text, cost.encoding)} ${cost.encoding === 'gsm-7' ? 'septets' : 'UTF-16 units'} ` +
            `(${cost.segments} segments, ${cost.encoding}); at most ${SMS_MAX_SEGMENTS} segments, ` +
            `${SMS_MAX_SEGMENTS * (cost.encoding === 'gsm-7' ? 153 : 67)} in ${cost.encoding}` +
            (cause ? `; the variable ${cause} makes it too long` : ''),
        });
      }
      out.sms = { text, ...cost };
    }
    if (wanted.has('push') && t.push) {
      const chosen = pick(t.push, input.locale)!;
      locale ??= chosen.locale;
      const title = fill(chosen.value.title, values);
      const body = fill(chosen.value.body, values);
      // The title and the body each have their limit: one problem for each that passes it.
      for (const [part, text, source, max] of [
        ['title', title, chosen.value.title, PUSH_TITLE_MAX],
        ['body', body, chosen.value.body, PUSH_BODY_MAX],
      ] as const) {
        if (text.length <= max) continue;
        const cause = soleCause([source], values, (v) => fill(source, v).length <= max);
        problems.push({
          pointer: cause ? `/variables/${cause}` : '/variables',
          code: 'push_too_long',
          message:
            `push ${part}: renders to ${text.length} characters; at most ${max}` +
            (cause ? `; the variable ${cause} makes it too long` : ''),
        });
      }
      out.push = {
        title,
        body,
        data: Object.fromEntries(
          Object.entries(chosen.value.data ?? {}).map(([k, v]) => [k, fill(v, values)]),
        ),
      };
    }
    if (problems.length) return { ok: false, problems };
    return { ok: true, value: { template: t.id, version: t.version, locale: locale ?? 'en', ...out } };
  };

  return {
    render,
    /** How many MJML compilations this renderer has made (one per template version and language used). */
    compilations: () => compilations,
  };
};

export type TemplateRenderer = ReturnType<typeof templateRenderer>;
