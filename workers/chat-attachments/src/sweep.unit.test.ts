import test from 'ava';
import { createLogger } from '@lectern/infra/runtime/logger';
import { attachmentExpirySweep, type AttachmentExpiry } from './index.ts';

const logger = createLogger({ level: 'silent' });
const TTL = 1000;

/** A read model of (id, requested at) and a store that expires what is due and not sent, once. */
const world = (rows: ReadonlyArray<readonly [string, number]>, sent: readonly string[] = []) => {
  const expired = new Set<string>();
  const asked: string[] = [];
  const expiry: AttachmentExpiry = {
    async unsentBefore(before, limit, cursor) {
      // The read model lags: a sent attachment stays listed, an expired one goes.
      const key = (id: string, at: number) => `${String(at).padStart(8, '0')}/${id}`;
      const after = cursor ? key(cursor.attachmentId, Date.parse(cursor.requestedAt)) : '';
      return rows
        .filter(([id, at]) => at < before.getTime() && !expired.has(id) && key(id, at) > after)
        .sort((a, b) => a[1] - b[1])
        .slice(0, limit)
        .map(([attachmentId, at]) => ({ attachmentId, requestedAt: new Date(at).toISOString() }));
    },
    async expire(id) {
      asked.push(id);
      if (sent.includes(id) || expired.has(id)) return false;
      expired.add(id);
      return true;
    },
  };
  return { expiry, expired, asked };
};

test('one look expires every due attachment, page after page, and none that is not due', async (t) => {
  const w = world([
    ['a', 0],
    ['b', 10],
    ['c', 20],
    ['d', 30],
    ['e', 40],
    ['young', 5000],
  ]);
  const sweep = attachmentExpirySweep({ expiry: w.expiry, logger, ttlMs: TTL, now: () => 2000, pageSize: 2 });
  t.is(await sweep.tick(), 5);
  t.deepEqual([...w.expired].sort(), ['a', 'b', 'c', 'd', 'e']);
  t.is(await sweep.tick(), 0, 'a second look finds nothing');
});

test('rows the stream refuses (sent, the read model behind) are passed once each, and what is due after them still expires', async (t) => {
  const w = world(
    [
      ['s1', 0],
      ['s2', 1],
      ['x', 2],
    ],
    ['s1', 's2'],
  );
  const sweep = attachmentExpirySweep({ expiry: w.expiry, logger, ttlMs: TTL, now: () => 2000, pageSize: 2 });
  t.is(await sweep.tick(), 1);
  t.deepEqual(w.asked, ['s1', 's2', 'x'], 'each row asked once');
  t.deepEqual([...w.expired], ['x']);
});
