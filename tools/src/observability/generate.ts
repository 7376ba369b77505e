/**
 * Writes the Prometheus rules and the Grafana dashboards of
 * infra/deploy/observability/ from slo.ts, rules.ts and dashboards.ts.
 *
 *   node tools/src/observability/generate.ts           # (re)write them
 *   node tools/src/observability/generate.ts --check   # exit 1 if a file is not what the code makes
 */
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { format, resolveConfig } from 'prettier';
import { dashboards } from './dashboards.ts';
import { renderRules, ruleGroups } from './rules.ts';

export const OUTPUT_DIR = new URL('../../../infra/deploy/observability/', import.meta.url).pathname;
export const RULES_FILE = 'rules/lectern.rules.yml';

/**
 * Every generated file, by its path under OUTPUT_DIR, formatted as `npm run
 * lint` (prettier) wants it, so that generated files need no exception there.
 */
export const generatedFiles = async (): Promise<Map<string, string>> => {
  const raw: [string, string][] = [
    [RULES_FILE, renderRules(ruleGroups())],
    ...Object.entries(dashboards()).map(([name, d]): [string, string] => [
      `dashboards/${name}`,
      JSON.stringify(d),
    ]),
  ];
  return new Map(
    await Promise.all(
      raw.map(async ([path, text]): Promise<[string, string]> => {
        const filepath = join(OUTPUT_DIR, path);
        return [path, await format(text, { ...(await resolveConfig(filepath)), filepath })];
      }),
    ),
  );
};

const read = (path: string): string | null => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
};

/** Paths under OUTPUT_DIR that differ from what the code makes, or that it no longer makes. */
export const staleFiles = async (): Promise<string[]> => {
  const files = await generatedFiles();
  const stale = [...files].filter(([path, text]) => read(join(OUTPUT_DIR, path)) !== text).map(([p]) => p);
  const leftover = readdirSync(join(OUTPUT_DIR, 'dashboards'))
    .map((f) => `dashboards/${f}`)
    .filter((p) => !files.has(p));
  return [...stale, ...leftover];
};

if (import.meta.main) {
  if (process.argv.includes('--check')) {
    const stale = await staleFiles();
    if (stale.length) {
      console.error(`not what tools/src/observability makes: ${stale.join(', ')}; run ./dev obs-generate`);
      process.exit(1);
    }
  } else {
    for (const [path, text] of await generatedFiles()) {
      mkdirSync(join(OUTPUT_DIR, path, '..'), { recursive: true });
      writeFileSync(join(OUTPUT_DIR, path), text);
      console.error(`wrote ${join('infra/deploy/observability', path)}`);
    }
  }
}
