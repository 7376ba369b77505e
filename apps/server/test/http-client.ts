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
