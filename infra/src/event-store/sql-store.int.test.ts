import test from 'ava';
import { pgliteSql, postgresSql } from '../sql/index.ts';
import { freshDatabase, requireEngine } from '../testing/engines.ts';
import { eventStoreContract } from './contract.ts';
import { sqlEventStore } from './sql-store.ts';

eventStoreContract(test, 'pglite', async () => {
  const sql = await pgliteSql(null);
  const store = await sqlEventStore(sql);
  return {
    store,
    cleanup: async () => {
      await store.close();
      await sql.close();
    },
  };
});

const url = requireEngine(test, 'DATABASE_URL');
if (url)
  eventStoreContract(test, 'postgres', async () => {
    const db = await freshDatabase(url);
    const sql = postgresSql(db.url, { max: 24 });
    const store = await sqlEventStore(sql);
    return {
      store,
      cleanup: async () => {
        await store.close();
        await sql.close();
        await db.drop();
      },
    };
  });
