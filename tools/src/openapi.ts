import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { apiContexts, apiDocument, asyncApi, contextDocument } from '@lectern/server/openapi';

/**
 * The OpenAPI documents, generated from the schemas (`npm run openapi`).
 *
 *   node tools/src/openapi.ts [--out DIR]   writes them to DIR (default docs/api, not committed)
 *   node tools/src/openapi.ts --lint        writes them to a temporary folder and lints them with
 *                                           Spectral (.spectral.yaml); any warning fails
 *
 * Files: `openapi.json` (every context, as a development server serves it at
 * `/openapi.json`), `<context>.openapi.json` for each context, and
 * `asyncapi.json` (the socket and the topics, as served at `/asyncapi.json`,
 * linted with .spectral-asyncapi.yaml).
 */
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const { values } = parseArgs({
  options: { out: { type: 'string' }, lint: { type: 'boolean', default: false } },
});

const write = async (dir: string): Promise<string[]> => {
  await mkdir(dir, { recursive: true });
  const documents: [string, unknown][] = [
    ['openapi.json', apiDocument()],
    ...apiContexts.map((c): [string, unknown] => [`${c.name}.openapi.json`, contextDocument(c)]),
    ['asyncapi.json', asyncApi()],
  ];
  return Promise.all(
    documents.map(async ([name, doc]) => {
      const file = join(dir, name);
      await writeFile(file, `${JSON.stringify(doc, null, 2)}\n`);
      return file;
    }),
  );
};

/** Spectral's CLI, run by this Node (its `#!/usr/bin/env node` could find an older one first). */
const spectral = (args: string[]): number => {
  const pkg = createRequire(import.meta.url).resolve('@stoplight/spectral-cli/package.json');
  const r = spawnSync(process.execPath, [join(dirname(pkg), 'dist/index.js'), ...args], {
    stdio: 'inherit',
    cwd: root,
  });
  return r.status ?? 1;
};

if (values.lint) {
  const dir = await mkdtemp(join(tmpdir(), 'lectern-openapi-'));
  try {
    const files = await write(dir);
    const lint = async (ruleset: string, documents: string[]) => {
      await readFile(ruleset); // a missing ruleset is an error here, not Spectral's silent default
      return spectral(['lint', '--ruleset', ruleset, '--fail-severity=warn', ...documents]);
    };
    const async = files.filter((f) => f.endsWith('asyncapi.json'));
    const open = files.filter((f) => !async.includes(f));
    const results = [
      await lint(join(root, '.spectral.yaml'), open),
      await lint(join(root, '.spectral-asyncapi.yaml'), async),
    ];
    process.exitCode = results.find((r) => r !== 0) ?? 0;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
} else {
  const dir = resolve(values.out ?? join(root, 'docs/api'));
  for (const file of await write(dir)) process.stdout.write(`${file}\n`);
}
