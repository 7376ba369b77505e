/**
 * Small runtime validators that report every problem at once, with a JSON
 * pointer to the offending field. Schemas are plain functions so that they run
 * unchanged in command handlers, projections and tests.
 *
 * Each combinator also records the JSON Schema (2020-12, the dialect of
 * OpenAPI 3.1) of what it accepts, so that the API documents are generated
 * from the very functions the handlers validate with (`jsonSchemaOf`). The
 * schema lives beside the function rather than on it: `Validator<T>` stays a
 * plain function type, and inline validators written by hand still fit.
 */

export type Issue = Readonly<{ path: string; message: string }>;
export type Result<T> = { ok: true; value: T } | { ok: false; issues: Issue[] };

export type Validator<T> = (input: unknown, path?: string) => Result<T>;

/** A JSON Schema (2020-12 dialect) as plain JSON data. */
export type JsonSchema = Readonly<Record<string, unknown>>;

const schemas = new WeakMap<object, JsonSchema>();

/** Records the JSON Schema of a validator; returns the same function. */
export const withSchema = <V extends Validator<unknown>>(validator: V, schema: JsonSchema): V => {
  schemas.set(validator, schema);
  return validator;
};

/**
 * The JSON Schema a validator was built with; `{}` (anything) for a validator
 * written by hand that never declared one.
 *
 * @example jsonSchemaOf(integer({ min: 1 })) // { type: 'integer', minimum: 1 }
 */
export const jsonSchemaOf = (validator: Validator<unknown>): JsonSchema => schemas.get(validator) ?? {};

/** Keeps only the keys whose value is defined, so schemas carry no `undefined` holes. */
const defined = (schema: Record<string, unknown>): JsonSchema =>
  Object.fromEntries(Object.entries(schema).filter(([, v]) => v !== undefined));

/**
 * Annotates a validator for the API documents: a description, an example
 * (checked against the validator here, so a wrong example fails at load time
 * rather than in a reader's client), a default, and a title. A titled schema
 * becomes a named component (`#/components/schemas/<title>`) in the
 * documents. Returns a new validator with the same behaviour: the annotated
 * one may be shared, and annotations must not leak into its other uses.
 *
 * @example describe(string({ max: 80 }), { description: 'Shown to other learners.', example: 'Ada' })
 */
export const describe = <T>(
  validator: Validator<T>,
  notes: Readonly<{ description?: string; example?: T; default?: T; title?: string }>,
): Validator<T> => {
  for (const [what, value] of [
    ['example', notes.example],
    ['default', notes.default],
  ] as const) {
    if (value === undefined) continue;
    const r = validator(value);
    if (!r.ok)
      throw new Error(`describe: the ${what} ${JSON.stringify(value)} is not valid: ${r.issues[0]?.message}`);
  }
  const { title, description, default: fallback, examples, ...rest } = jsonSchemaOf(validator);
  return withSchema(
    (input, path) => validator(input, path),
    defined({
      title: notes.title ?? title,
      ...rest,
      description: notes.description ?? description,
      default: notes.default ?? fallback,
      examples: notes.example === undefined ? examples : [notes.example],
    }),
  );
};

/**
 * A JavaScript regular expression as a JSON Schema `pattern`. JSON Schema
 * patterns carry no flags, so `i` is spelled out (`a` → `[aA]`); `m`, `s`
 * and `v` change what the source means and are refused rather than
 * described wrongly.
 */
export const patternOf = (re: RegExp): string => {
  const unsupported = re.flags.replace(/[giuyd]/g, '');
  if (unsupported)
    throw new Error(
      `pattern /${re.source}/${re.flags}: flag ${unsupported} cannot be expressed in JSON Schema`,
    );
  return re.flags.includes('i') ? caseInsensitive(re.source) : re.source;
};

/** A letter with one other case, one character long (`ß` upper-cases to two: left alone). */
const isLetter = (c: string | undefined): c is string =>
  c !== undefined &&
  c.length === 1 &&
  c.toLowerCase() !== c.toUpperCase() &&
  c.toLowerCase().length === 1 &&
  c.toUpperCase().length === 1;
const swapCase = (c: string): string => (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase());

/**
 * Rewrites a regex source so that it matches, without the `i` flag, what it
 * matched with it. Escapes whose meaning the flag would change (`\x41`,
 * `\u00e9`, `\p{Lu}`, back-references) are refused rather than guessed at.
 */
const caseInsensitive = (source: string): string => {
  const refuse = (why: string): never => {
    throw new Error(`pattern ${source} with flag i: ${why} cannot be expressed in JSON Schema`);
  };
  let out = '';
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!;
    if (c === '\\') {
      const next = source[i + 1] ?? '';
      // A code unit by number (`\u0000`, `\x1f`) keeps its meaning unless it names a letter.
      const unit = /^(?:x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4})/.exec(source.slice(i + 1))?.[0];
      if (unit && !isLetter(String.fromCharCode(parseInt(unit.slice(1), 16)))) {
        out += c + unit;
        i += unit.length;
        continue;
      }
      if (/[1-9kpPuxc]/.test(next)) refuse(`the escape \\${next}`);
      out += c + next;
      i += 1;
    } else if (inClass) {
      const to = source[i + 2];
      if (c === ']') {
        inClass = false;
        out += c;
      } else if (isLetter(c) && source[i + 1] === '-' && isLetter(to)) {
        if ((c === c.toLowerCase()) !== (to === to.toLowerCase())) refuse('a range across cases');
        out += `${c}-${to}${swapCase(c)}-${swapCase(to)}`;
        i += 2;
      } else out += isLetter(c) ? c + swapCase(c) : c;
    } else if (c === '[') {
      inClass = true;
      out += c;
      if (source[i + 1] === '^') {
        out += '^';
        i += 1;
      }
    } else if (c === '(' && source.startsWith('(?<', i) && source[i + 3] !== '=' && source[i + 3] !== '!') {
      // A group name is an identifier, not text to match.
      const end = source.indexOf('>', i) + 1;
      out += source.slice(i, end);
      i = end - 1;
    } else out += isLetter(c) ? `[${c}${swapCase(c)}]` : c;
  }
  return out;
};

const fail = (path: string, message: string): Result<never> => ({ ok: false, issues: [{ path, message }] });

/**
 * Keys refused in every object a client sends (ARCHITECTURE rule 11):
 * assigned to a plain object, `__proto__` replaces its prototype, and a
 * lookup of `constructor` or `prototype` in a plain object finds inherited
 * functions rather than nothing. `JSON.parse` (and so express.json) keeps
 * `{"__proto__": …}` as an own key, so it does reach the validators.
 */
export const PROTOTYPE_KEYS: readonly string[] = ['__proto__', 'constructor', 'prototype'];

/**
 * What is wrong with a piece of text that would be stored, or null: lone
 * surrogates cannot be encoded as UTF-8 (PostgreSQL's jsonb and ClickHouse
 * refuse them, so the write would fail after it was accepted), and U+0000
 * cannot be stored in a PostgreSQL text or jsonb value at all.
 *
 * @example textProblem('web\ud800') // 'must be valid Unicode (it has a lone surrogate)'
 */
export const textProblem = (text: string): string | null => {
  if (!text.isWellFormed()) return 'must be valid Unicode (it has a lone surrogate)';
  if (text.includes('\u0000')) return 'must not contain U+0000';
  return null;
};

/** U+0000 refused, as a JSON Schema pattern (lone surrogates cannot be written in UTF-8 JSON at all). */
export const NO_NUL = '^[^\\u0000]*$';

/**
 * The text rule and "something besides white space", as a pattern: what a
 * trimmed field of at least one character takes. The white space is
 * spelled out as String.prototype.trim removes it, since `\\s` means less
 * in some generators' regex dialects (Python's leaves out U+FEFF).
 */
export const NOT_BLANK =
  '^[^\\u0000]*[^\\u0000 \\t\\n\\v\\f\\r\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff][^\\u0000]*$';

/** What is wrong with an object key a client sent, or null: a prototype key, or bad text. */
export const keyProblem = (key: string): string | null =>
  PROTOTYPE_KEYS.includes(key) ? 'is not an allowed key' : textProblem(key);

/** `path` extended by one key, escaped as a JSON pointer (RFC 6901: `~` → `~0`, `/` → `~1`). */
export const pointer = (path: string, key: string | number): string =>
  `${path}/${String(key).replaceAll('~', '~0').replaceAll('/', '~1')}`;

/**
 * The one text rule, over any JSON value: every string and every object key
 * valid Unicode without U+0000, and no prototype key at any depth. Every
 * validator that takes text applies it (`string`, the object and record
 * keys, `json` for free-form data); the HTTP edge applies it to whole
 * bodies, so a route whose body no validator reads is covered too.
 *
 * @example textIssues({ bio: 'a\u0000b' }) // [{ path: '/bio', message: 'must not contain U+0000' }]
 */
export const textIssues = (value: unknown, path = ''): Issue[] => {
  const issues: Issue[] = [];
  // An explicit stack: a deeply nested body must not overflow the call stack.
  const stack: [unknown, string][] = [[value, path]];
  while (stack.length) {
    const [v, at] = stack.pop()!;
    if (typeof v === 'string') {
      const problem = textProblem(v);
      if (problem) issues.push({ path: at, message: problem });
    } else if (Array.isArray(v)) v.forEach((item, i) => stack.push([item, pointer(at, i)]));
    else if (typeof v === 'object' && v !== null)
      for (const [key, item] of Object.entries(v)) {
        const where = pointer(at, key);
        const problem = keyProblem(key);
        if (problem) issues.push({ path: where, message: problem });
        else stack.push([item, where]);
      }
  }
  return issues.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
};

/** An object key under the text rule, as JSON Schema. */
export const textKeySchema: JsonSchema = { pattern: NO_NUL, not: { enum: [...PROTOTYPE_KEYS] } };

/**
 * Any JSON value under the text rule, as JSON Schema: a named component
 * (`JsonValue`) that refers to itself for nested arrays and objects, so the
 * API documents can say "free-form" without saying "anything".
 */
export const jsonValueSchema: JsonSchema = {
  title: 'JsonValue',
  description:
    'Any JSON value whose text is valid: strings and keys without U+0000, and no `__proto__`, ' +
    '`constructor` or `prototype` key.',
  anyOf: [
    { type: ['number', 'boolean', 'null'] },
    { type: 'string', pattern: NO_NUL },
    { type: 'array', items: { $ref: '#/components/schemas/JsonValue' } },
    {
      type: 'object',
      propertyNames: textKeySchema,
      additionalProperties: { $ref: '#/components/schemas/JsonValue' },
    },
  ],
};

/** Free-form JSON (an event's payload): any value, under the text rule. */
export const json = (): Validator<unknown> =>
  withSchema((input, path = '') => {
    const issues = textIssues(input, path);
    return issues.length ? { ok: false, issues } : { ok: true, value: input };
  }, jsonValueSchema);

/**
 * A string, trimmed unless `trim: false`; lengths count code points, as
 * JSON Schema's do. `format` only annotates the documents (`uri`, `email`…):
 * what is checked is `pattern`.
 */
export const string = (
  opts: { min?: number; max?: number; pattern?: RegExp; trim?: boolean; format?: string } = {},
): Validator<string> =>
  withSchema(
    (input, path = '') => {
      if (typeof input !== 'string') return fail(path, 'must be a string');
      const bad = textProblem(input);
      if (bad) return fail(path, bad);
      const value = opts.trim === false ? input : input.trim();
      if (opts.min !== undefined && [...value].length < opts.min)
        return fail(path, `must be at least ${opts.min} characters`);
      // The limit counts what was sent, white space included, as the document's maxLength does.
      if (opts.max !== undefined && [...input].length > opts.max)
        return fail(path, `must be at most ${opts.max} characters`);
      if (opts.pattern && !opts.pattern.test(value)) return fail(path, 'has an invalid format');
      return { ok: true, value };
    },
    defined({
      type: 'string',
      minLength: opts.min,
      maxLength: opts.max,
      // The text rule, where no pattern of the field's own says more (ours never match U+0000); a
      // trimmed field that must hold something may not be white space alone either.
      pattern: opts.pattern
        ? patternOf(opts.pattern)
        : opts.trim !== false && (opts.min ?? 0) >= 1
          ? NOT_BLANK
          : NO_NUL,
      format: opts.format,
    }),
  );

export const oneOf = <const T extends readonly string[]>(values: T): Validator<T[number]> =>
  withSchema(
    (input, path = '') =>
      typeof input === 'string' && (values as readonly string[]).includes(input)
        ? { ok: true, value: input as T[number] }
        : fail(path, `must be one of: ${values.join(', ')}`),
    { type: 'string', enum: [...values] },
  );

export const integer = (opts: { min?: number; max?: number } = {}): Validator<number> =>
  withSchema(
    (input, path = '') => {
      if (typeof input !== 'number' || !Number.isInteger(input)) return fail(path, 'must be an integer');
      if (opts.min !== undefined && input < opts.min) return fail(path, `must be at least ${opts.min}`);
      if (opts.max !== undefined && input > opts.max) return fail(path, `must be at most ${opts.max}`);
      return { ok: true, value: input };
    },
    defined({ type: 'integer', minimum: opts.min, maximum: opts.max }),
  );

/**
 * An integer written in decimal digits, as query strings and headers carry
 * numbers (or an integer itself). The documents describe the value
 * (`type: integer`), which is how OpenAPI describes a query parameter's
 * serialized number.
 */
export const integerString = (opts: { min?: number; max?: number } = {}): Validator<number> => {
  // Bounded by the safe integers when not narrower, so the schema states what the digits may be.
  const inner = integer({
    min: opts.min ?? -Number.MAX_SAFE_INTEGER,
    max: opts.max ?? Number.MAX_SAFE_INTEGER,
  });
  return withSchema(
    (input, path = '') =>
      typeof input === 'string' && /^\s*-?\d{1,16}\s*$/.test(input)
        ? // Sixteen digits reach every safe integer (2^53 − 1 has 16); past it the digits would be rounded.
          Number.isSafeInteger(Number(input))
          ? inner(Number(input), path)
          : fail(path, `must be at most ${Number.MAX_SAFE_INTEGER} in size`)
        : typeof input === 'number'
          ? inner(input, path)
          : fail(path, 'must be an integer'),
    jsonSchemaOf(inner),
  );
};

/** A finite number (JSON has no NaN or Infinity). */
export const number = (opts: { min?: number; max?: number } = {}): Validator<number> =>
  withSchema(
    (input, path = '') => {
      if (typeof input !== 'number' || !Number.isFinite(input)) return fail(path, 'must be a number');
      if (opts.min !== undefined && input < opts.min) return fail(path, `must be at least ${opts.min}`);
      if (opts.max !== undefined && input > opts.max) return fail(path, `must be at most ${opts.max}`);
      return { ok: true, value: input };
    },
    defined({ type: 'number', minimum: opts.min, maximum: opts.max }),
  );

/** `true` or `false`; strings like "true" are not booleans. */
export const boolean = (): Validator<boolean> =>
  withSchema(
    (input, path = '') =>
      typeof input === 'boolean' ? { ok: true, value: input } : fail(path, 'must be true or false'),
    { type: 'boolean' },
  );

/** A lower-case UUID, as our ids are written. */
export const uuid = (): Validator<string> =>
  string({ pattern: /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, format: 'uuid' });

/** An instant in UTC as `Date.prototype.toISOString` writes it (`2026-01-01T00:00:00.000Z`). */
export const isoTime = (): Validator<string> =>
  string({ pattern: /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/, format: 'date-time' });

/**
 * Email addresses as a sign-up form should take them, not everything RFC 5322
 * allows:
 *
 * - trimmed, then at most 254 characters (RFC 5321's path limit less the angle
 *   brackets) and a local part of at most 64;
 * - the HTML Living Standard's "valid email address" grammar (what browsers
 *   check for `<input type=email>`: dot-atom-ish local part, LDH domain
 *   labels of at most 63), tightened to require a dot in the domain, since a
 *   dotless domain cannot receive mail from the internet; no quoted local
 *   parts, comments or IP literals, and ASCII only (internationalized
 *   addresses are refused: clients send IDN domains as punycode);
 * - lower-cased whole. The local part is case-sensitive in theory and never
 *   in practice; lower-casing makes `Ada@x.org` and `ada@x.org` one account
 *   rather than two, which is what uniqueness of email needs.
 */
export const email = (): Validator<string> => {
  const pattern =
    /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;
  return withSchema(
    (input, path = '') => {
      if (typeof input !== 'string') return fail(path, 'must be a string');
      const bad = textProblem(input);
      if (bad) return fail(path, bad);
      const value = input.trim();
      if (value.length > 254) return fail(path, 'must be at most 254 characters');
      if (!pattern.test(value)) return fail(path, 'must be an email address');
      return { ok: true, value: value.toLowerCase() };
    },
    // No `format: email`: validators of that format disagree with each other and with this grammar
    // (a leading dot in the local part, say); the pattern is what is checked.
    {
      type: 'string',
      maxLength: 254,
      pattern: pattern.source,
      description: 'An e-mail address (the HTML form grammar, with a dot in the domain); lower-cased.',
    },
  );
};

/**
 * `null` or what `inner` accepts. JSON Schema: the inner `type` widened with
 * `"null"` (and `null` added to an `enum`); a schema with no single type, or
 * a titled one (a named component must not turn nullable for everyone),
 * becomes `anyOf: [inner, {type: null}]`.
 */
export const nullable = <T>(inner: Validator<T>): Validator<T | null> => {
  const s = jsonSchemaOf(inner);
  let schema: JsonSchema;
  if (Object.keys(s).length === 0) schema = {};
  else if (typeof s.type === 'string' && s.title === undefined)
    schema = {
      ...s,
      type: [s.type, 'null'],
      ...(Array.isArray(s.enum) ? { enum: [...(s.enum as unknown[]), null] } : {}),
    };
  else schema = { anyOf: [s, { type: 'null' }] };
  return withSchema(
    (input, path = '') => (input === null ? { ok: true, value: null } : inner(input, path)),
    schema,
  );
};

export const arrayOf = <T>(inner: Validator<T>, opts: { min?: number; max?: number } = {}): Validator<T[]> =>
  withSchema(
    (input, path = '') => {
      if (!Array.isArray(input)) return fail(path, 'must be an array');
      if (opts.min !== undefined && input.length < opts.min)
        return fail(path, `must have at least ${opts.min} item${opts.min === 1 ? '' : 's'}`);
      if (opts.max !== undefined && input.length > opts.max)
        return fail(path, `must have at most ${opts.max} items`);
      const issues: Issue[] = [];
      const value: T[] = [];
      input.forEach((item, i) => {
        const r = inner(item, `${path}/${i}`);
        if (r.ok) value.push(r.value);
        else issues.push(...r.issues);
      });
      return issues.length ? { ok: false, issues } : { ok: true, value };
    },
    defined({ type: 'array', items: jsonSchemaOf(inner), minItems: opts.min, maxItems: opts.max }),
  );

/**
 * An object with any keys (at most `max`), each value checked by `inner` and
 * each key by `keys` when given: maps such as labels or metadata.
 */
export const record = <T>(
  inner: Validator<T>,
  opts: { keys?: Validator<string>; max?: number } = {},
): Validator<Record<string, T>> =>
  withSchema(
    (input, path = '') => {
      if (typeof input !== 'object' || input === null || Array.isArray(input))
        return fail(path, 'must be an object');
      const entries = Object.entries(input);
      if (opts.max !== undefined && entries.length > opts.max)
        return fail(path, `must have at most ${opts.max} entries`);
      const issues: Issue[] = [];
      const value: Record<string, T> = {};
      for (const [key, raw] of entries) {
        const where = pointer(path, key);
        const bad = keyProblem(key);
        const k = bad ? null : opts.keys?.(key, where);
        if (bad || (k && !k.ok)) {
          issues.push({ path: where, message: bad ?? 'is not an allowed key' });
          continue;
        }
        const r = inner(raw, where);
        if (r.ok) value[key] = r.value;
        else issues.push(...r.issues);
      }
      return issues.length ? { ok: false, issues } : { ok: true, value };
    },
    defined({
      type: 'object',
      additionalProperties: jsonSchemaOf(inner),
      // Keys are text as values are: no U+0000, no prototype key (keyProblem above).
      propertyNames: opts.keys
        ? jsonSchemaOf(opts.keys)
        : { pattern: NO_NUL, not: { enum: [...PROTOTYPE_KEYS] } },
      maxProperties: opts.max,
    }),
  );

type Shape = Record<string, Validator<unknown>>;
type Out<S extends Shape> = { [K in keyof S]: S[K] extends Validator<infer T> ? T : never };

const propertiesOf = (shape: Shape): Record<string, JsonSchema> =>
  Object.fromEntries(Object.entries(shape).map(([k, v]) => [k, jsonSchemaOf(v)]));

/**
 * An object whose keys are all optional (a partial update); unknown keys are
 * rejected so that a typo is an error rather than a silent no-op.
 */
export const partialObject = <S extends Shape>(shape: S): Validator<Partial<Out<S>>> =>
  withSchema(
    (input, path = '') => {
      if (typeof input !== 'object' || input === null || Array.isArray(input))
        return fail(path, 'must be an object');
      const issues: Issue[] = [];
      const value: Record<string, unknown> = {};
      for (const [key, raw] of Object.entries(input)) {
        const where = pointer(path, key);
        // Own keys only: `shape.constructor` is Object, which is not a validator.
        const validator = Object.hasOwn(shape, key) && !PROTOTYPE_KEYS.includes(key) ? shape[key] : undefined;
        if (!validator) {
          issues.push({ path: where, message: keyProblem(key) ?? 'is not a known field' });
          continue;
        }
        const r = validator(raw, where);
        if (r.ok) value[key] = r.value;
        else issues.push(...r.issues);
      }
      return issues.length ? { ok: false, issues } : { ok: true, value: value as Partial<Out<S>> };
    },
    { type: 'object', properties: propertiesOf(shape), additionalProperties: false },
  );

/**
 * An object whose listed keys are all required, except those named in
 * `optional` (which may be absent, and are typed so).
 *
 * @example object({ email: email(), device: deviceInfo }, { optional: ['device'] })
 */
export function object<S extends Shape>(shape: S): Validator<Out<S>>;
export function object<S extends Shape, O extends keyof S>(
  shape: S,
  opts: { optional: readonly O[] },
): Validator<Omit<Out<S>, O> & Partial<Pick<Out<S>, O>>>;
export function object<S extends Shape>(
  shape: S,
  opts: { optional?: readonly PropertyKey[] } = {},
): Validator<Out<S>> {
  const partial = partialObject(shape);
  const optional = new Set<PropertyKey>(opts.optional ?? []);
  const keys = Object.keys(shape).filter((k) => !optional.has(k));
  return withSchema(
    (input, path = '') => {
      const r = partial(input, path);
      if (!r.ok) return r;
      const missing = keys.filter((k) => !(k in r.value));
      if (missing.length)
        return { ok: false, issues: missing.map((k) => ({ path: `${path}/${k}`, message: 'is required' })) };
      return { ok: true, value: r.value as Out<S> };
    },
    {
      type: 'object',
      properties: propertiesOf(shape),
      ...(keys.length ? { required: keys } : {}),
      additionalProperties: false,
    },
  );
}
