import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { OpenApiDocument } from '@lectern/schemas/openapi';
import type { JsonSchema } from '@lectern/schemas/validation';
import { loadConfig } from '../src/config.ts';
import { startLectern, type Lectern } from '../src/server.ts';

/**
 * Every request-body example the served document shows is accepted when
 * sent as it is (issue 8, line 4): an example that the server refuses (a
 * date fallen out of a window, a field renamed) teaches a client the wrong
 * request. Bodies are sent in the document's order of paths, creations
 * (POST) first, as an admin.
 */
let lectern: Lectern;
let dir: string;

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lectern-examples-'));
  lectern = await startLectern(loadConfig({ PORT: '0', LECTERN_DATA_DIR: dir, LOG_LEVEL: 'silent' }));
});
test.after.always(async () => {
  await lectern?.stop();
  await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
});

type Operation = Readonly<{
  operationId: string;
  parameters?: readonly Readonly<{ name: string; in: string; schema: JsonSchema }>[];
  requestBody?: { content: Record<string, { schema: JsonSchema }> };
}>;

test('every documented request-body example is accepted as sent', async (t) => {
  const admin = (await lectern.signAccessToken({ sub: randomUUID(), roles: ['admin'] })).token;
  const doc = (await (await fetch(`${lectern.url}/openapi.json`)).json()) as OpenApiDocument;
  const exampleOf = (schema: JsonSchema | undefined): unknown => {
    const ref = typeof schema?.$ref === 'string' ? schema.$ref.split('/').pop()! : null;
    const resolved = ref ? doc.components.schemas[ref] : schema;
    return (resolved?.examples as unknown[] | undefined)?.[0];
  };
  const order = ['post', 'put', 'patch'] as const;
  const sends = order.flatMap((method) =>
    Object.entries(doc.paths).flatMap(([path, item]) => {
      const op = item[method] as Operation | undefined;
      const example = exampleOf(op?.requestBody?.content['application/json']?.schema);
      return op && example !== undefined ? [{ method, path, op, example }] : [];
    }),
  );
  t.true(sends.length >= 4, `the document shows body examples (${sends.length})`);
  const refused: string[] = [];
  for (const { method, path, op, example } of sends) {
    // Path parameters take their own documented examples, as a reader pasting them would.
    const url = path.replace(/\{(\w+)\}/g, (_, name: string) => {
      const schema = op.parameters?.find((p) => p.in === 'path' && p.name === name)?.schema;
      return encodeURIComponent(String((schema?.examples as unknown[] | undefined)?.[0] ?? name));
    });
    const res = await fetch(`${lectern.url}${url}`, {
      method: method.toUpperCase(),
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify(example),
    });
    const body = await res.text();
    if (res.status >= 400) refused.push(`${op.operationId} ${res.status}: ${body}`);
  }
  t.deepEqual(refused, []);
});
