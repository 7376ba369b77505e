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
 * ARCHITECTURE rule 11 over HTTP: prototype keys, U+0000 and lone
 * surrogates sent to every write operation the served document lists are a
 * 400 problem+json pointing at the field, never a 5xx. The operations come
 * from `/openapi.json`, so a new route is covered without editing this test.
 */
let lectern: Lectern;
let dir: string;

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lectern-text-rule-'));
  lectern = await startLectern(loadConfig({ PORT: '0', LECTERN_DATA_DIR: dir, LOG_LEVEL: 'silent' }));
});
test.after.always(async () => {
  await lectern?.stop();
  await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
});

const WRITES = ['post', 'put', 'patch', 'delete'] as const;

type Param = Readonly<{ name: string; in: string; schema: JsonSchema }>;
type Operation = Readonly<{
  parameters?: readonly Param[];
  requestBody?: { content: Record<string, { schema: JsonSchema }> };
}>;

/** A plausible value for a path parameter, so that the request reaches the body check. */
const pathValue = (schema: JsonSchema): string => {
  if (schema.format === 'uuid') return randomUUID();
  const examples = schema.examples as unknown[] | undefined;
  const values = (examples ?? (schema.enum as unknown[] | undefined) ?? ['x']) as unknown[];
  return encodeURIComponent(String(values[0]));
};

/** The top-level property names of a request body, following a `$ref` to a component. */
const propertiesOf = (doc: OpenApiDocument, schema: JsonSchema | undefined): string[] => {
  const ref = typeof schema?.$ref === 'string' ? schema.$ref.split('/').pop()! : null;
  const resolved = ref ? doc.components.schemas[ref] : schema;
  return Object.keys((resolved?.properties as Record<string, unknown> | undefined) ?? {});
};

/** The bad bodies for one operation, each as JSON text with the pointers its answer must name. */
const badBodies = (fields: readonly string[]): { text: string; pointers: string[] }[] => [
  // JSON text, not JSON.stringify: `__proto__` must arrive as a key, as an attacker would send it.
  { text: '{"__proto__": {"isAdmin": true}}', pointers: ['/__proto__'] },
  { text: '{"constructor": {"prototype": {"x": 1}}}', pointers: ['/constructor'] },
  { text: '{"prototype": "x"}', pointers: ['/prototype'] },
  ...['field', ...fields].flatMap((f) => [
    { text: `{${JSON.stringify(f)}: "a\\u0000b"}`, pointers: [`/${f}`] },
    { text: `{${JSON.stringify(f)}: "web\\ud800"}`, pointers: [`/${f}`] },
    { text: `{${JSON.stringify(f)}: "\\udc00"}`, pointers: [`/${f}`] },
    // Nested and free-form: an event's payload, a device, socialLinks.
    {
      text: `{${JSON.stringify(f)}: [{"payload": {"__proto__": 1, "s": "x\\u0000", "ok": "😀"}}]}`,
      pointers: [`/${f}/0/payload/__proto__`, `/${f}/0/payload/s`],
    },
    { text: `{${JSON.stringify(f)}: {"k\\u0000": "v"}}`, pointers: [`/${f}/k\u0000`] },
  ]),
];

test('every write operation of the document answers bad text and prototype keys with 400 and a pointer', async (t) => {
  const admin = (await lectern.signAccessToken({ sub: randomUUID(), roles: ['admin'] })).token;
  const doc = (await (await fetch(`${lectern.url}/openapi.json`)).json()) as OpenApiDocument;
  const writes = Object.entries(doc.paths).flatMap(([path, item]) =>
    WRITES.filter((m) => item[m]).map((method) => ({ path, method, op: item[method] as Operation })),
  );
  const withBody = writes.filter((w) => w.op.requestBody);
  t.true(withBody.length >= 15, `the document lists the write routes (${withBody.length} with a body)`);

  const failures: string[] = [];
  let sent = 0;
  for (const { path, method, op } of withBody) {
    const url = path.replace(/\{(\w+)\}/g, (_, name: string) =>
      pathValue(op.parameters?.find((p) => p.in === 'path' && p.name === name)?.schema ?? {}),
    );
    const fields = propertiesOf(doc, op.requestBody?.content['application/json']?.schema);
    for (const { text, pointers } of badBodies(fields)) {
      const res = await fetch(`${lectern.url}${url}`, {
        method: method.toUpperCase(),
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        body: text,
      });
      sent += 1;
      const body = (await res.json()) as { code?: string; errors?: { path: string }[] };
      const named = new Set((body.errors ?? []).map((e) => e.path));
      const ok =
        res.status === 400 &&
        res.headers.get('content-type')?.startsWith('application/problem+json') &&
        body.code === 'validation_failed' &&
        pointers.every((p) => named.has(p));
      if (!ok)
        failures.push(`${method.toUpperCase()} ${path} ${text} → ${res.status} ${JSON.stringify(body)}`);
    }
  }
  t.deepEqual(failures, [], `${failures.length} of ${sent} requests were not a 400 naming the field`);
});

test('bad text in a path parameter of a write operation is a client error, never a 5xx', async (t) => {
  const admin = (await lectern.signAccessToken({ sub: randomUUID(), roles: ['admin'] })).token;
  const doc = (await (await fetch(`${lectern.url}/openapi.json`)).json()) as OpenApiDocument;
  const failures: string[] = [];
  for (const [path, item] of Object.entries(doc.paths))
    for (const method of WRITES.filter((m) => item[m] && path.includes('{')))
      for (const bad of ['a%00b', '%ED%A0%80', '__proto__', 'constructor']) {
        const res = await fetch(`${lectern.url}${path.replace(/\{\w+\}/g, bad)}`, {
          method: method.toUpperCase(),
          headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
          body: '{}',
        });
        await res.arrayBuffer();
        if (res.status >= 500 || res.status < 400)
          failures.push(`${method.toUpperCase()} ${path} with ${bad} → ${res.status}`);
      }
  t.deepEqual(failures, []);
});
