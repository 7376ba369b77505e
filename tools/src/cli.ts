import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';

/**
 * The `lectern` command line (`npm run -s lectern -- <command>`).
 *
 *   dev-token [--sub <uuid>] [--roles learner,admin] [--url http://localhost:8000]
 *       prints an access token from the running development server's
 *       development-only `POST /api/dev/token` (signed by identity's key ring)
 *   rebuild <projection> [--url http://localhost:8000] [--token <admin token>]
 *       rebuilds a read model from position zero through the running server
 *   projections [--url …] [--token …]
 *       lists read models with their checkpoints
 */
const usage = (): never => {
  process.stderr.write(
    'usage: lectern dev-token [--sub UUID] [--roles a,b] [--url URL]\n' +
      '       lectern rebuild <projection> [--url URL] [--token TOKEN]\n' +
      '       lectern projections [--url URL] [--token TOKEN]\n',
  );
  process.exit(2);
};

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    sub: { type: 'string' },
    roles: { type: 'string', default: 'learner' },
    url: { type: 'string', default: process.env.LECTERN_URL ?? 'http://localhost:8000' },
    token: { type: 'string' },
  },
});
const devToken = async (roles: string[], sub: string = randomUUID()): Promise<string> => {
  const res = await fetch(`${values.url}/api/dev/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ sub, roles }),
  });
  const body = (await res.json()) as { token?: string };
  if (!res.ok || !body.token) {
    process.stderr.write(
      `${res.status}: ${JSON.stringify(body)} (dev-token needs a development server at ${values.url})\n`,
    );
    process.exit(1);
  }
  return body.token;
};

const api = async (method: string, path: string): Promise<unknown> => {
  const token = values.token ?? process.env.LECTERN_TOKEN ?? (await devToken(['admin']));
  const res = await fetch(`${values.url}${path}`, { method, headers: { authorization: `Bearer ${token}` } });
  const body = (await res.json()) as unknown;
  if (!res.ok) {
    process.stderr.write(`${res.status}: ${JSON.stringify(body)}\n`);
    process.exit(1);
  }
  return body;
};

switch (positionals[0]) {
  case 'dev-token':
    process.stdout.write(`${await devToken(values.roles.split(','), values.sub)}\n`);
    break;
  case 'rebuild':
    if (!positionals[1]) usage();
    process.stdout.write(
      `${JSON.stringify(await api('POST', `/api/admin/projections/${positionals[1]}/rebuild`))}\n`,
    );
    break;
  case 'projections':
    process.stdout.write(`${JSON.stringify(await api('GET', '/api/admin/projections'), null, 2)}\n`);
    break;
  default:
    usage();
}
