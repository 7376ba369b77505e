/**
 * Small runtime validators that report every problem at once, with a JSON
 * pointer to the offending field. Schemas are plain functions so that they run
 * unchanged in command handlers, projections and tests.
 */

export type Issue = Readonly<{ path: string; message: string }>;
export type Result<T> = { ok: true; value: T } | { ok: false; issues: Issue[] };

export type Validator<T> = (input: unknown, path?: string) => Result<T>;

const fail = (path: string, message: string): Result<never> => ({ ok: false, issues: [{ path, message }] });

export const string =
  (opts: { min?: number; max?: number; pattern?: RegExp; trim?: boolean } = {}): Validator<string> =>
  (input, path = '') => {
    if (typeof input !== 'string') return fail(path, 'must be a string');
    const value = opts.trim === false ? input : input.trim();
    const length = [...value].length;
    if (opts.min !== undefined && length < opts.min)
      return fail(path, `must be at least ${opts.min} characters`);
    if (opts.max !== undefined && length > opts.max)
      return fail(path, `must be at most ${opts.max} characters`);
    if (opts.pattern && !opts.pattern.test(value)) return fail(path, 'has an invalid format');
    return { ok: true, value };
  };

export const oneOf =
  <const T extends readonly string[]>(values: T): Validator<T[number]> =>
  (input, path = '') =>
    typeof input === 'string' && (values as readonly string[]).includes(input)
      ? { ok: true, value: input as T[number] }
      : fail(path, `must be one of: ${values.join(', ')}`);

export const integer =
  (opts: { min?: number; max?: number } = {}): Validator<number> =>
  (input, path = '') => {
    if (typeof input !== 'number' || !Number.isInteger(input)) return fail(path, 'must be an integer');
    if (opts.min !== undefined && input < opts.min) return fail(path, `must be at least ${opts.min}`);
    if (opts.max !== undefined && input > opts.max) return fail(path, `must be at most ${opts.max}`);
    return { ok: true, value: input };
  };

export const nullable =
  <T>(inner: Validator<T>): Validator<T | null> =>
  (input, path = '') =>
    input === null ? { ok: true, value: null } : inner(input, path);

export const arrayOf =
  <T>(inner: Validator<T>, opts: { max?: number } = {}): Validator<T[]> =>
  (input, path = '') => {
    if (!Array.isArray(input)) return fail(path, 'must be an array');
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
  };

type Shape = Record<string, Validator<unknown>>;
type Out<S extends Shape> = { [K in keyof S]: S[K] extends Validator<infer T> ? T : never };

/**
 * An object whose keys are all optional (a partial update); unknown keys are
 * rejected so that a typo is an error rather than a silent no-op.
 */
export const partialObject =
  <S extends Shape>(shape: S): Validator<Partial<Out<S>>> =>
  (input, path = '') => {
    if (typeof input !== 'object' || input === null || Array.isArray(input))
      return fail(path, 'must be an object');
    const issues: Issue[] = [];
    const value: Record<string, unknown> = {};
    for (const [key, raw] of Object.entries(input)) {
      const validator = shape[key];
      if (!validator) {
        issues.push({ path: `${path}/${key}`, message: 'is not a known field' });
        continue;
      }
      const r = validator(raw, `${path}/${key}`);
      if (r.ok) value[key] = r.value;
      else issues.push(...r.issues);
    }
    return issues.length ? { ok: false, issues } : { ok: true, value: value as Partial<Out<S>> };
  };

/** An object whose listed keys are all required. */
export const object =
  <S extends Shape>(shape: S): Validator<Out<S>> =>
  (input, path = '') => {
    const partial = partialObject(shape)(input, path);
    if (!partial.ok) return partial;
    const missing = Object.keys(shape).filter((k) => !(k in partial.value));
    if (missing.length)
      return { ok: false, issues: missing.map((k) => ({ path: `${path}/${k}`, message: 'is required' })) };
    return { ok: true, value: partial.value as Out<S> };
  };
