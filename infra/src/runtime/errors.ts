import type { Issue, Result } from '@lectern/schemas';

/**
 * The closed set of errors a handler may raise on purpose (STYLE.md §11).
 * Each maps to one HTTP status and a stable `code`; anything else is a bug
 * and becomes a 500 whose details stay in the log.
 */
export type ProblemKind =
  | 'validation'
  | 'unauthenticated'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'revision_mismatch'
  | 'too_large'
  | 'unsupported_type'
  | 'locked'
  | 'rate_limited'
  | 'unavailable';

export const statusOf: Readonly<Record<ProblemKind, number>> = {
  validation: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  revision_mismatch: 412,
  too_large: 413,
  /** A file (named by a field, not the request's own body) of a type the route does not take. */
  unsupported_type: 415,
  locked: 423,
  rate_limited: 429,
  unavailable: 503,
};

export class Problem extends Error {
  readonly kind: ProblemKind;
  /** Stable, documented, machine-readable: clients branch on it. */
  readonly code: string;
  readonly issues: readonly Issue[] | undefined;
  readonly retryAfterSeconds: number | undefined;
  readonly extra: Readonly<Record<string, unknown>> | undefined;
  constructor(
    kind: ProblemKind,
    code: string,
    message: string,
    opts: { issues?: readonly Issue[]; retryAfterSeconds?: number; extra?: Record<string, unknown> } = {},
  ) {
    super(message);
    this.name = 'Problem';
    this.kind = kind;
    this.code = code;
    this.issues = opts.issues;
    this.retryAfterSeconds = opts.retryAfterSeconds;
    this.extra = opts.extra;
  }
}

export const validationProblem = (issues: readonly Issue[], message = 'The request is not valid.'): Problem =>
  new Problem('validation', 'validation_failed', message, { issues });

/**
 * A validator's value, or the 400 `validation_failed` listing its issues.
 *
 * @example const body = validated(schema.sendMessage(jsonBody(req)));
 */
export const validated = <T>(r: Result<T>): T => {
  if (!r.ok) throw validationProblem(r.issues);
  return r.value;
};
