import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { freshDatabase, requireEngine } from '@lectern/infra/testing/engines';
import { loadConfig } from './config.ts';
import { identityFlow } from './identity-flow.ts';

const tempDir = () => mkdtemp(join(tmpdir(), 'lectern-identity-'));

identityFlow(test, 'embedded', async () => {
  const dir = await tempDir();
  return {
    config: loadConfig({ PORT: '0', LECTERN_DATA_DIR: dir, LOG_LEVEL: 'warn' }),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

const databaseUrl = requireEngine(test, 'DATABASE_URL');
const brokers = requireEngine(test, 'KAFKA_BROKERS');
if (databaseUrl && brokers)
  identityFlow(test, 'postgres+kafka', async () => {
    const dir = await tempDir();
    const db = await freshDatabase(databaseUrl);
    return {
      config: loadConfig({
        PORT: '0',
        LECTERN_DATA_DIR: dir,
        LOG_LEVEL: 'warn',
        DATABASE_URL: db.url,
        KAFKA_BROKERS: brokers,
        LECTERN_NAMESPACE: `e2e-${db.name}`,
      }),
      cleanup: async () => {
        await db.drop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  });
