/** A tiny JSON client for the e2e tests: status, headers and the parsed body. */
export type Reply = Readonly<{ status: number; headers: Headers; body: Record<string, any> | null }>;

export const jsonClient =
  (baseUrl: () => Promise<string> | string) =>
  async (
    method: string,
    path: string,
    opts: { token?: string; body?: unknown; raw?: string; headers?: Record<string, string> } = {},
  ): Promise<Reply> => {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    if (opts.body !== undefined || opts.raw !== undefined) headers['content-type'] ??= 'application/json';
    const res = await fetch(`${await baseUrl()}${path}`, {
      method,
      headers,
      body: opts.raw ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body)),
    });
    const text = await res.text();
    return {
      status: res.status,
      headers: res.headers,
      body: text ? (JSON.parse(text) as Record<string, any>) : null,
    };
  };

/**
 * Asserts an error answer (ARCHITECTURE rule 8): its status, problem+json, and
 * its stable `code` when one is given.
 *
 * @example problem(t, await http('POST', '/api/identity/login', { body }), 401, 'invalid_credentials');
 */
export const problem = (
  t: { is(actual: unknown, expected: unknown, message?: string): void },
  r: Reply,
  status: number,
  code?: string,
): void => {
  t.is(r.status, status, JSON.stringify(r.body));
  t.is(r.headers.get('content-type'), 'application/problem+json; charset=utf-8');
  if (code !== undefined) t.is(r.body?.code, code);
};
