import test from 'ava';
import { ESLint } from 'eslint';

// The tier rules of eslint.config.js, exercised on made-up files: each import
// a tier must not make is an error there, and what it may import is not.
const eslint = new ESLint({ cwd: new URL('../..', import.meta.url).pathname });
const refusals = async (filePath: string, code: string) => {
  const [result] = await eslint.lintText(code, { filePath });
  return result!.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
};

const cases: readonly [file: string, code: string, refused: boolean][] = [
  ['infra/src/x.ts', "import { profileModule } from '@lectern/profile-module';", true],
  ['infra/src/x.ts', "import { identityCommandRoutes } from '@lectern/identity-commands';", true],
  ['infra/src/x.ts', "import { ProfileUpdated } from '@lectern/schemas/profile/events';", true],
  ['infra/src/x.ts', "import { identity } from '@lectern/schemas';", true],
  ['infra/src/x.ts', "import { topicOf } from '@lectern/schemas';", false],
  ['schemas/src/x.ts', "import { sqlLog } from '@lectern/infra/message-log/sql-log';", true],
  [
    'command-services/profile/src/x.ts',
    "import { profilesProjection } from '@lectern/profile-projection-profiles';",
    true,
  ],
  [
    'command-services/profile/src/x.ts',
    "import { profileQueryRoutes } from '@lectern/profile-queries';",
    true,
  ],
  [
    'command-services/profile/src/domain/x.ts',
    "import { profileQueryRoutes } from '@lectern/profile-queries';",
    true,
  ],
  [
    'command-services/profile/src/x.ts',
    "import { handleCommand } from '@lectern/infra/runtime/command-handler';",
    false,
  ],
  [
    'projections/profile/profiles/src/x.ts',
    "import { profileCommandRoutes } from '@lectern/profile-commands';",
    true,
  ],
  ['projections/profile/profiles/src/x.ts', "import { startLectern } from '@lectern/server';", true],
  [
    'query-services/profile/src/x.ts',
    "import { profileCommandRoutes } from '@lectern/profile-commands';",
    true,
  ],
  [
    'query-services/profile/src/x.ts',
    "import { profilesProjection } from '@lectern/profile-projection-profiles';",
    false,
  ],
  ['modules/profile/src/x.ts', "import { identityQueryRoutes } from '@lectern/identity-queries';", true],
  ['modules/profile/src/x.ts', "import { profileQueryRoutes } from '@lectern/profile-queries';", false],
];

for (const [file, code, refused] of cases)
  test(`${file}: ${code} is ${refused ? 'refused' : 'allowed'}`, async (t) => {
    const messages = await refusals(file, code);
    if (refused) t.true(messages.length > 0, 'refused');
    else t.deepEqual(messages, []);
  });
