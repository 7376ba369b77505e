// @ts-check
import { readdirSync } from 'node:fs';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// The tiers of ARCHITECTURE.md §2, enforced (a violation fails `npm run lint`).
// Contexts are the folders of the tiers that hold them, so a new context is
// covered by being added.
const folders = (dir) =>
  readdirSync(new URL(dir, import.meta.url), { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name);
const contexts = [
  ...new Set(['command-services/', 'projections/', 'query-services/', 'modules/'].flatMap(folders)),
].sort();
const tier = {
  commands: { group: ['@lectern/*-commands', '@lectern/*-commands/**'], message: 'a command service' },
  projections: { group: ['@lectern/*-projection-*', '@lectern/*-projection-*/**'], message: 'a projection' },
  queries: { group: ['@lectern/*-queries', '@lectern/*-queries/**'], message: 'a query service' },
  workers: { group: ['@lectern/*-worker', '@lectern/*-worker/**'], message: 'a worker' },
  modules: { group: ['@lectern/*-module', '@lectern/*-module/**'], message: 'a context module' },
  realtime: { group: ['@lectern/realtime', '@lectern/realtime/**'], message: 'the realtime gateway' },
  roots: {
    group: ['@lectern/server', '@lectern/server/**', '@lectern/tools', '@lectern/tools/**'],
    message: 'a composition root',
  },
};
/** The import patterns refusing the given tiers to `name`. */
const refused = (name, tiers) =>
  tiers.map((t) => ({
    group: tier[t].group,
    message: `${name} does not import ${tier[t].message} (ARCHITECTURE.md §2).`,
  }));
/** `no-restricted-imports` refusing the given tiers to the files of `files`. */
const refuse = (name, files, tiers, extra = []) => ({
  name: `tiers/${name}`,
  files,
  rules: { 'no-restricted-imports': ['error', { patterns: [...refused(name, tiers), ...extra] }] },
});
const commandTiersRefused = ['projections', 'queries', 'workers', 'modules', 'realtime', 'roots'];

export default tseslint.config(
  { ignores: ['**/node_modules/**', '.lectern/**', '**/*.d.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly' },
    },
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  refuse(
    'schemas',
    ['schemas/**/*.ts'],
    [],
    [
      {
        group: ['@lectern/*', '@lectern/*/**'],
        message: 'schemas imports nothing of ours (ARCHITECTURE.md §2).',
      },
    ],
  ),
  refuse('infra', ['infra/**/*.ts'], Object.keys(tier), [
    {
      group: contexts.map((c) => `@lectern/schemas/${c}/**`),
      message: 'infra names no context: what a context brings arrives through its ContextModule.',
    },
    {
      group: ['@lectern/schemas'],
      importNames: contexts,
      message: 'infra names no context: what a context brings arrives through its ContextModule.',
    },
  ]),
  refuse(
    'a command service',
    ['command-services/**/*.ts'],
    ['projections', 'queries', 'workers', 'modules', 'realtime', 'roots'],
  ),
  refuse(
    'a projection',
    ['projections/**/*.ts'],
    ['commands', 'queries', 'workers', 'modules', 'realtime', 'roots'],
  ),
  refuse(
    'a query service',
    ['query-services/**/*.ts'],
    ['commands', 'workers', 'modules', 'realtime', 'roots'],
  ),
  refuse(
    'a worker',
    ['workers/**/*.ts'],
    ['commands', 'projections', 'queries', 'modules', 'realtime', 'roots'],
  ),
  // The gateway names no context: channels and actions arrive through each ContextModule.
  refuse(
    'the realtime gateway',
    ['realtime/**/*.ts'],
    ['commands', 'projections', 'queries', 'workers', 'modules', 'roots'],
    [
      {
        group: contexts.map((c) => `@lectern/schemas/${c}/**`),
        message:
          'the realtime gateway names no context: what a context brings arrives through its ContextModule.',
      },
    ],
  ),
  // A context module composes its own context's tiers, and no other context's.
  ...contexts.map((c) =>
    refuse(
      `the ${c} module`,
      [`modules/${c}/**/*.ts`],
      ['roots'],
      [
        {
          group: contexts
            .filter((o) => o !== c)
            .flatMap((o) => [`@lectern/${o}-*`, `@lectern/${o}-*/**`, `@lectern/schemas/${o}/**`]),
          message: `the ${c} module composes the ${c} context only.`,
        },
      ],
    ),
  ),
  {
    // Deciders are pure (STYLE.md §4): time, ids, randomness and configuration arrive in the command.
    files: ['command-services/*/src/domain/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-globals': [
        'error',
        { name: 'Date', message: 'Time arrives in the command.' },
        { name: 'process', message: 'Configuration arrives through the handler.' },
        { name: 'crypto', message: 'Ids arrive in the command.' },
        { name: 'setTimeout', message: 'Deciders do not wait.' },
      ],
      'no-restricted-properties': [
        'error',
        { object: 'Math', property: 'random', message: 'Randomness arrives in the command.' },
      ],
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['node:*', 'crypto', 'fs', 'pg', 'express'], message: 'No I/O in the domain.' },
            // This rule replaces the command tier's for domain files: keep its patterns.
            ...refused('a command service', commandTiersRefused),
          ],
        },
      ],
    },
  },
);
