import { randomUUID } from 'node:crypto';
import type {
  Batch,
  Consumer,
  ConsumerOptions,
  LogHeaders,
  LogMessage,
  MessageLog,
  OutgoingMessage,
} from '../ports/message-log.ts';
import type { Clock } from '../runtime/ids.ts';
import { migrate, sqlMigration, type Migration } from '../sql/migrate.ts';
import type { Sql } from '../sql/sql.ts';
import { groupMember, LeaseFencedError } from './sql-log-leases.ts';

export { LeaseFencedError } from './sql-log-leases.ts';

/**
 * The embedded message log: topics, partitions, messages and consumer groups
 * in tables of PostgreSQL or PGlite, written once against the `Sql` port.
 *
 * Design, in short (docs/architecture.md has the long form):
 * - Partition = Kafka's default partitioner, `murmur2(utf8(key)) & 0x7fffffff
 *   % partitions`, so a key lands on the same partition number here and on
 *   Kafka.
 * - Offsets are reserved under the partition row's lock (`select … for update`
 *   in ascending partition order, then `update … set next_offset =
 *   next_offset + n`) in the transaction that inserts the messages. A later
 *   producer waits for the lock, so offsets are gap-free, strictly increasing,
 *   and commit (become visible) in offset order. One `produce` call is one
 *   transaction: all its messages or none.
 * - Consumer groups: members heartbeat a row in `members`; every member
 *   computes the same round-robin assignment over the live members, releases
 *   what is no longer its own (after the batch in hand has committed) and
 *   takes the rest through `leases` rows, which expire when not renewed.
 *   Every grant of a lease increments its epoch, and a commit is written only
 *   under the epoch its batch was fetched under (sql-log-leases.ts), so a
 *   member whose lease lapsed cannot move the group's offset, forward or back.
 * - `pg_notify` on produce and on membership changes wakes consumers; a
 *   modest poll covers a lost listener connection.
 */

/** Every table lives in this schema; knex's bookkeeping is `knex_migrations_message_log`. */
export const messageLogMigrations: readonly Migration[] = [
  sqlMigration(
    '0001_message_log_topics',
    `
    create schema if not exists message_log;
    create table if not exists message_log.topics (
      topic text primary key check (topic <> ''),
      partitions integer not null check (partitions > 0),
      created_at timestamptz not null default now()
    );
    create table if not exists message_log.partitions (
      topic text not null references message_log.topics (topic) on delete cascade,
      partition integer not null check (partition >= 0),
      next_offset bigint not null default 0 check (next_offset >= 0),
      primary key (topic, partition)
    );
    create table if not exists message_log.messages (
      topic text not null,
      partition integer not null,
      "offset" bigint not null,
      key text not null,
      value text not null,
      headers jsonb not null default '{}'::jsonb,
      appended_at timestamptz not null default now(),
      primary key (topic, partition, "offset")
    );
    `,
    `
    drop table if exists message_log.messages;
    drop table if exists message_log.partitions;
    drop table if exists message_log.topics;
    drop schema if exists message_log;
    `,
  ),
  sqlMigration(
    '0002_message_log_consumer_groups',
    `
    create table if not exists message_log.commits (
      group_id text not null,
      topic text not null,
      partition integer not null,
      committed_offset bigint not null check (committed_offset >= 0),
      committed_at timestamptz not null default now(),
      primary key (group_id, topic, partition)
    );
    create table if not exists message_log.members (
      group_id text not null,
      member_id text not null,
      topics jsonb not null,
      joined_at timestamptz not null default now(),
      expires_at timestamptz not null,
      primary key (group_id, member_id)
    );
    create table if not exists message_log.leases (
      group_id text not null,
      topic text not null,
      partition integer not null,
      member_id text not null,
      expires_at timestamptz not null,
      primary key (group_id, topic, partition)
    );
    create index if not exists leases_by_member on message_log.leases (group_id, member_id);
    `,
    `
    drop table if exists message_log.leases;
    drop table if exists message_log.members;
    drop table if exists message_log.commits;
    `,
  ),
  sqlMigration(
    '0003_message_log_lease_epochs',
    // A released lease keeps its row with no holder, so its epoch never starts over.
    `
    alter table message_log.leases add column if not exists epoch bigint not null default 0;
    alter table message_log.leases alter column member_id drop not null;
    `,
    `
    delete from message_log.leases where member_id is null;
    alter table message_log.leases alter column member_id set not null;
    alter table message_log.leases drop column if exists epoch;
    `,
  ),
];

const CHANNEL = 'lectern_message_log';
const notifyData = (topic: string) => `t:${topic}`;
const notifyGroup = (groupId: string) => `g:${groupId}`;

/**
 * Kafka's murmur2 (the Java client's `Utils.murmur2`, which kafkajs's
 * `DefaultPartitioner` reproduces) over the UTF-8 bytes of `key`.
 */
export const murmur2 = (key: string): number => {
  const data = Buffer.from(key, 'utf8');
  const length = data.length;
  const m = 0x5bd1e995;
  let h = 0x9747b28c ^ length;
  const length4 = length >>> 2;
  for (let i = 0; i < length4; i++) {
    const i4 = i * 4;
    let k = data[i4]! | (data[i4 + 1]! << 8) | (data[i4 + 2]! << 16) | (data[i4 + 3]! << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m);
    h ^= k;
  }
  const tail = length & ~3;
  switch (length & 3) {
    case 3:
      h ^= data[tail + 2]! << 16;
    // falls through
    case 2:
      h ^= data[tail + 1]! << 8;
    // falls through
    case 1:
      h ^= data[tail]!;
      h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
};

/** The partition of `key` in a topic of `partitions` partitions, as Kafka's default partitioner picks it. */
export const partitionFor = (key: string, partitions: number): number =>
  (murmur2(key) & 0x7fffffff) % partitions;

export type SqlLogOptions = Readonly<{
  /** How often a consumer renews its membership and leases and rebalances; default 1000 ms. */
  heartbeatIntervalMs?: number;
  /** A member, and its leases, not renewed for this long is presumed dead; default 10 000 ms. */
  sessionTimeoutMs?: number;
  /** Fallback poll for new messages when no NOTIFY arrives; default 1000 ms. */
  pollIntervalMs?: number;
  /**
   * Where lease and membership time comes from; default the database's
   * clock, which every process of a deployment shares. Tests inject one so
   * that a lease lapses when they say, not when the machine is slow.
   */
  clock?: Clock;
  /** Run this module's migrations on start (default true). */
  migrate?: boolean;
  /** Where failures go that the log survives (database errors, rejected batches); default stderr. */
  onError?: (error: unknown, context: string) => void;
}>;

type Owned = {
  readonly topic: string;
  readonly partition: number;
  /** The grant of the partition's lease this member reads under; its commits carry it. */
  readonly epoch: string;
  /** Next offset to hand to the handler. */
  position: bigint;
  /** A batch the handler rejected, delivered again as it was once `retryAt` has passed. */
  failed: readonly LogMessage[] | null;
  retryAt: number;
  /** Set when the partition is being given up: no new batch starts on it. */
  releasing: boolean;
  inFlight: Promise<void> | null;
  /** Tells the handler of the batch in hand to finish it (BatchControl.signal). */
  inHand: AbortController | null;
};

type Subscriber = Readonly<{
  topics: ReadonlySet<string>;
  groupId: string;
  onData(): void;
  onGroup(): void;
}>;

const tpKey = (topic: string, partition: number) => JSON.stringify([topic, partition]);

/** Resolves on `notify()` or after `ms`; sticky, so a notify between `clear()` and `wait()` is not lost. */
const wakeup = () => {
  let pending = false;
  let wake: (() => void) | null = null;
  return {
    notify() {
      pending = true;
      wake?.();
    },
    clear() {
      pending = false;
    },
    wait(ms: number): Promise<void> {
      if (pending) return Promise.resolve();
      return new Promise((resolve) => {
        const done = () => {
          clearTimeout(timer);
          wake = null;
          resolve();
        };
        const timer = setTimeout(done, Math.max(0, ms));
        wake = done;
      });
    },
  };
};

const positiveInt = (value: number, what: string) => {
  if (!Number.isInteger(value) || value <= 0)
    throw new Error(`${what} must be a positive integer, got ${value}`);
  return value;
};

/**
 * Opens the embedded log on `sql` (migrating it unless told not to). The
 * `Sql` stays the caller's: `close()` stops this log's consumers, not the
 * database.
 *
 * @example
 *   const sql = await pgliteSql('./data');
 *   const log = await sqlLog(sql);
 *   await log.ensureTopics([{ topic: 'lectern.profile.events', partitions: 4 }]);
 */
export const sqlLog = async (sql: Sql, options: SqlLogOptions = {}): Promise<MessageLog> => {
  const heartbeatIntervalMs = positiveInt(options.heartbeatIntervalMs ?? 1000, 'heartbeatIntervalMs');
  const sessionTimeoutMs = positiveInt(options.sessionTimeoutMs ?? 10_000, 'sessionTimeoutMs');
  const pollIntervalMs = positiveInt(options.pollIntervalMs ?? 1000, 'pollIntervalMs');
  if (sessionTimeoutMs < 2 * heartbeatIntervalMs) {
    throw new Error(
      'sessionTimeoutMs must be at least twice heartbeatIntervalMs, or live members lose their leases',
    );
  }
  const report =
    options.onError ??
    ((error: unknown, context: string) =>
      process.stderr.write(
        `message-log(sql) ${context}: ${error instanceof Error ? error.message : String(error)}\n`,
      ));
  if (options.migrate !== false) await migrate(sql, 'message_log', messageLogMigrations);

  const partitionCounts = new Map<string, number>();
  const partitionsOf = async (topic: string): Promise<number> => {
    const known = partitionCounts.get(topic);
    if (known !== undefined) return known;
    const [row] = await sql.query<{ partitions: number }>(
      'select partitions from message_log.topics where topic = $1',
      [topic],
    );
    if (!row) throw new Error(`message log: unknown topic ${topic} (call ensureTopics first)`);
    partitionCounts.set(topic, row.partitions);
    return row.partitions;
  };

  // One LISTEN per log, fanned out to its consumers.
  const subscribers = new Set<Subscriber>();
  let unlisten: Promise<() => Promise<void>> | null = null;
  const dispatch = (payload: string) => {
    const name = payload.slice(2);
    for (const s of subscribers) {
      if (payload.startsWith('t:') && s.topics.has(name)) s.onData();
      else if (payload.startsWith('g:') && s.groupId === name) s.onGroup();
    }
  };
  const ensureListening = () => {
    unlisten ??= sql.listen(CHANNEL, dispatch).catch((error: unknown) => {
      // Consumers keep polling; the next consumer to start tries again.
      report(error, 'listen');
      unlisten = null;
      return async () => {};
    });
    return unlisten;
  };
  const notify = (payload: string) =>
    sql.query('select pg_notify($1, $2)', [CHANNEL, payload]).then(
      () => {},
      (error: unknown) => report(error, 'notify'),
    );

  const consumers = new Set<Consumer>();

  const consume = (opts: ConsumerOptions): Consumer => {
    const { groupId, handleBatch } = opts;
    const topics = [...new Set(opts.topics)].sort();
    const startFrom = opts.startFrom ?? 'earliest';
    const maxBatchSize = positiveInt(opts.maxBatchSize ?? 100, 'maxBatchSize');
    const retryDelayMs = opts.retryDelayMs ?? 1000;
    const memberId = randomUUID();
    const member = groupMember(sql, { groupId, memberId, sessionTimeoutMs, clock: options.clock });
    const owned = new Map<string, Owned>();
    const wake = wakeup();
    let running = true;
    let heartbeating = true;
    let joined = false;

    let resolveReady!: () => void;
    let rejectReady!: (error: Error) => void;
    const ready = new Promise<void>((resolve, reject) => {
      resolveReady = resolve;
      rejectReady = reject;
    });
    // Callers that never await `ready` must not see an unhandled rejection.
    ready.catch(() => {});

    /** The batch in hand on `p` should finish now: the partition is leaving, or the consumer is. */
    const hurry = (p: Owned, why: string) => p.inHand?.abort(new Error(`${groupId}: ${why}`));

    const lose = (p: Owned) => {
      p.releasing = true;
      hurry(p, `lost ${p.topic}/${p.partition}`);
      if (owned.get(tpKey(p.topic, p.partition)) === p) owned.delete(tpKey(p.topic, p.partition));
    };

    // --- consumer-group membership -------------------------------------------------------

    const assignment = (
      members: readonly { member_id: string; topics: readonly string[] }[],
      partitions: readonly { topic: string; partition: number }[],
    ): Set<string> => {
      // Every member sorts the same way (JS code-unit order, not the database collation).
      const sortedMembers = [...members].sort((a, b) =>
        a.member_id < b.member_id ? -1 : a.member_id > b.member_id ? 1 : 0,
      );
      const sortedPartitions = [...partitions].sort((a, b) =>
        a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition,
      );
      const mine = new Set<string>();
      let turn = 0;
      for (const { topic, partition } of sortedPartitions) {
        const eligible = sortedMembers.filter((m) => m.topics.includes(topic));
        if (eligible.length === 0) continue;
        if (eligible[turn % eligible.length]!.member_id === memberId) mine.add(tpKey(topic, partition));
        turn++;
      }
      return mine;
    };

    const releases = new Set<Promise<void>>();
    const releaseAfterBatch = async (p: Owned) => {
      await p.inFlight;
      try {
        await member.release(p);
      } catch (error) {
        // The lease then expires on its own; the next owner waits for that.
        report(error, `releasing ${p.topic}/${p.partition} of ${groupId}`);
      }
      lose(p);
      await notify(notifyGroup(groupId));
    };

    const tick = async () => {
      // 1. Say we are alive; forget members that stopped saying so.
      const { members, partitions } = await member.heartbeat(topics);
      const desired = assignment(members, partitions);

      // 2. Give up what is no longer ours, once the batch in hand has committed.
      //    In the background: heartbeats must go on while a slow batch finishes.
      for (const p of owned.values()) {
        if (!p.releasing && !desired.has(tpKey(p.topic, p.partition))) {
          p.releasing = true;
          hurry(p, `handing ${p.topic}/${p.partition} over`);
          const release = releaseAfterBatch(p).finally(() => releases.delete(release));
          releases.add(release);
        }
      }

      // 3. Renew the rest; whatever is not renewed, or is held under another
      //    epoch now, was granted again after our lease lapsed.
      const held = new Map((await member.renew()).map((l) => [tpKey(l.topic, l.partition), l.epoch]));
      for (const p of [...owned.values()]) if (held.get(tpKey(p.topic, p.partition)) !== p.epoch) lose(p);

      // 4. Take what is ours and free (or whose holder's lease has lapsed).
      const wanted = [...desired].filter((k) => !owned.has(k)).map((k) => JSON.parse(k) as [string, number]);
      const got = await member.grant(wanted);
      for (const g of got) {
        const position = BigInt(g.committed ?? (startFrom === 'latest' ? g.end : '0'));
        owned.set(tpKey(g.topic, g.partition), {
          topic: g.topic,
          partition: g.partition,
          epoch: g.epoch,
          position,
          failed: null,
          retryAt: 0,
          releasing: false,
          inFlight: null,
          inHand: null,
        });
      }
      if (got.length > 0) wake.notify();

      // 5. Tell the others a member arrived, so they hand over without waiting a heartbeat.
      if (!joined) {
        joined = true;
        await notify(notifyGroup(groupId));
      }
      if ([...desired].every((k) => owned.has(k))) resolveReady();
    };

    let ticking: Promise<void> | null = null;
    let tickAgain = false;
    let tickTimer: NodeJS.Timeout | undefined;
    const requestTick = () => {
      if (!heartbeating) return;
      if (ticking) {
        tickAgain = true;
        return;
      }
      clearTimeout(tickTimer);
      ticking = (async () => {
        do {
          tickAgain = false;
          try {
            await tick();
          } catch (error) {
            report(error, `heartbeat of ${groupId}`);
          }
        } while (tickAgain && heartbeating);
      })().finally(() => {
        ticking = null;
        if (heartbeating) tickTimer = setTimeout(requestTick, heartbeatIntervalMs);
      });
    };

    // --- fetching and handling -----------------------------------------------------------

    const handle = async (p: Owned, messages: readonly LogMessage[]): Promise<void> => {
      const batch: Batch = { topic: p.topic, partition: p.partition, messages };
      const control = new AbortController();
      p.inHand = control;
      if (p.releasing || !running) hurry(p, 'stopping');
      try {
        await handleBatch(batch, { signal: control.signal });
      } catch (error) {
        p.failed = messages;
        p.retryAt = Date.now() + retryDelayMs;
        report(
          error,
          `handleBatch of ${groupId} on ${p.topic}/${p.partition} (retrying in ${retryDelayMs} ms)`,
        );
        return;
      } finally {
        p.inHand = null;
      }
      const next = BigInt(messages[messages.length - 1]!.offset) + 1n;
      try {
        await member.commit(p, next);
        p.failed = null;
        p.position = next;
      } catch (error) {
        if (error instanceof LeaseFencedError) {
          // The lease's current holder delivers this batch again; we read no further here.
          lose(p);
          report(error, `commit of ${groupId} on ${p.topic}/${p.partition}`);
          return;
        }
        // Handled but maybe not committed: deliver again rather than risk a loss.
        p.failed = messages;
        p.retryAt = Date.now() + retryDelayMs;
        report(error, `commit of ${groupId} on ${p.topic}/${p.partition}`);
      }
    };

    type Row = {
      topic: string;
      partition: number;
      offset: string;
      key: string;
      value: string;
      headers: LogHeaders;
      ts: number;
    };

    const fetchBatches = async (from: readonly Owned[]) => {
      const rows = await sql.query<Row>(
        `select x.topic, x.partition, x."offset"::text as "offset", x.key, x.value, x.headers,
                (extract(epoch from x.appended_at) * 1000)::float8 as ts
         from jsonb_to_recordset($1::jsonb) as f(t text, p int, o text)
         cross join lateral (
           select * from message_log.messages m
           where m.topic = f.t and m.partition = f.p and m."offset" >= f.o::bigint
           order by m."offset" limit $2) x
         order by x.topic, x.partition, x."offset"`,
        [
          JSON.stringify(from.map((p) => ({ t: p.topic, p: p.partition, o: p.position.toString() }))),
          maxBatchSize,
        ],
      );
      const byPartition = new Map<string, LogMessage[]>();
      for (const r of rows) {
        const k = tpKey(r.topic, r.partition);
        let list = byPartition.get(k);
        if (!list) byPartition.set(k, (list = []));
        list.push({
          topic: r.topic,
          partition: r.partition,
          offset: r.offset,
          key: r.key,
          value: r.value,
          headers: r.headers,
          timestamp: Math.floor(Number(r.ts)),
        });
      }
      return from.flatMap((p) => {
        const messages = byPartition.get(tpKey(p.topic, p.partition));
        return messages ? [{ p, messages }] : [];
      });
    };

    /**
     * One round over the partitions we own: `'more'` when a partition may hold
     * more than it handed out (a full batch, or a retry waiting), `'drained'`
     * when it handed out short batches only, `'idle'` when nothing.
     */
    const pollOnce = async (): Promise<'more' | 'drained' | 'idle'> => {
      const now = Date.now();
      const due = [...owned.values()].filter((p) => !p.releasing && p.retryAt <= now);
      const fresh = due.filter((p) => !p.failed);
      const batches = [
        ...due.flatMap((p) => (p.failed ? [{ p, messages: p.failed }] : [])),
        ...(fresh.length > 0 ? await fetchBatches(fresh) : []),
      ];
      for (const { p, messages } of batches) {
        // 1. A stopping consumer finishes the batch in hand but starts no other.
        if (!running) break;
        // 2. A partition being released (or lost) meanwhile is someone else's now.
        if (p.releasing || owned.get(tpKey(p.topic, p.partition)) !== p) continue;
        const run = handle(p, messages);
        p.inFlight = run;
        await run;
        p.inFlight = null;
      }
      if (batches.length === 0) return 'idle';
      const full = batches.some(({ messages }) => messages.length >= maxBatchSize);
      return full || due.some((p) => p.failed) ? 'more' : 'drained';
    };

    const nextWait = () => {
      const now = Date.now();
      let wait = pollIntervalMs;
      for (const p of owned.values()) if (p.failed && !p.releasing) wait = Math.min(wait, p.retryAt - now);
      return wait;
    };

    const loop = async () => {
      await listening;
      while (running) {
        // Cleared before the fetch, so a produce during it or during the
        // handler still wakes the wait below (the wake-up is sticky).
        wake.clear();
        let round: 'more' | 'drained' | 'idle' = 'idle';
        try {
          if (owned.size > 0) round = await pollOnce();
        } catch (error) {
          report(error, `fetch of ${groupId}`);
        }
        // After short batches the partitions are drained: fetching again at
        // once would only read nothing; wait for the next produce instead.
        if (round !== 'more' && running) await wake.wait(nextWait());
      }
    };

    const subscriber: Subscriber = {
      topics: new Set(topics),
      groupId,
      onData: () => wake.notify(),
      onGroup: () => requestTick(),
    };
    subscribers.add(subscriber);
    // Listen before the first heartbeat, so no NOTIFY after `ready` is missed.
    const listening = ensureListening().then(requestTick);
    const loopDone = loop();

    let stopping: Promise<void> | null = null;
    const consumer: Consumer = {
      ready,
      isRunning: () => running,
      stop() {
        stopping ??= (async () => {
          // 1. Stop fetching; the batch in hand finishes and commits.
          running = false;
          rejectReady(new Error(`consumer of ${groupId} stopped before it was ready`));
          for (const p of owned.values()) hurry(p, 'stopping');
          wake.notify();
          await loopDone;
          // 2. Stop heartbeating, then leave: hand every partition back at once.
          heartbeating = false;
          clearTimeout(tickTimer);
          await ticking;
          await Promise.all(releases);
          subscribers.delete(subscriber);
          try {
            await member.leave();
            await notify(notifyGroup(groupId));
          } catch (error) {
            report(error, `leaving ${groupId} (its leases expire after ${sessionTimeoutMs} ms)`);
          }
          owned.clear();
          consumers.delete(consumer);
        })();
        return stopping;
      },
    };
    consumers.add(consumer);
    return consumer;
  };

  return {
    async ensureTopics(wanted) {
      if (wanted.length === 0) return;
      for (const { topic, partitions } of wanted) {
        if (topic === '') throw new Error('message log: empty topic name');
        positiveInt(partitions, `partitions of ${topic}`);
      }
      // Existing topics keep their partition count, as on Kafka.
      await sql.transaction(async (tx) => {
        await tx.query(
          `insert into message_log.topics (topic, partitions)
           select r.topic, r.partitions from jsonb_to_recordset($1::jsonb) as r(topic text, partitions int)
           on conflict (topic) do nothing`,
          [JSON.stringify(wanted)],
        );
        await tx.query(
          `insert into message_log.partitions (topic, partition)
           select t.topic, g.p from message_log.topics t, generate_series(0, t.partitions - 1) as g(p)
           where t.topic = any($1::text[])
           on conflict do nothing`,
          [wanted.map((w) => w.topic)],
        );
      });
    },

    async produce(topic: string, messages: readonly OutgoingMessage[]) {
      if (messages.length === 0) return;
      const count = await partitionsOf(topic);
      const byPartition = new Map<number, OutgoingMessage[]>();
      for (const m of messages) {
        if (typeof m.key !== 'string' || typeof m.value !== 'string') {
          throw new TypeError('message log: key and value must be strings');
        }
        const p = partitionFor(m.key, count);
        const list = byPartition.get(p);
        if (list) list.push(m);
        else byPartition.set(p, [m]);
      }
      const parts = [...byPartition.keys()].sort((a, b) => a - b);
      await sql.transaction(async (tx) => {
        // 1. Lock the partitions in ascending order, so concurrent producers never deadlock.
        await tx.query(
          `select partition from message_log.partitions
           where topic = $1 and partition = any($2::int[]) order by partition for update`,
          [topic, parts],
        );
        // 2. Reserve offsets; the lock is held until commit, so the next producer's come after ours.
        const reserved = await tx.query<{ partition: number; first: string }>(
          `update message_log.partitions lp set next_offset = lp.next_offset + c.n
           from unnest($2::int[], $3::int[]) as c(partition, n)
           where lp.topic = $1 and lp.partition = c.partition
           returning lp.partition, (lp.next_offset - c.n)::text as first`,
          [topic, parts, parts.map((p) => byPartition.get(p)!.length)],
        );
        if (reserved.length !== parts.length)
          throw new Error(`message log: partitions of ${topic} are missing`);
        // 3. Insert, in the order given per partition.
        const records = reserved.flatMap(({ partition, first }) => {
          let offset = BigInt(first);
          return byPartition.get(partition)!.map((m) => ({
            p: partition,
            o: (offset++).toString(),
            k: m.key,
            v: m.value,
            h: m.headers ?? {},
          }));
        });
        await tx.query(
          `insert into message_log.messages (topic, partition, "offset", key, value, headers)
           select $1, r.p, r.o::bigint, r.k, r.v, r.h
           from jsonb_to_recordset($2::jsonb) as r(p int, o text, k text, v text, h jsonb)`,
          [topic, JSON.stringify(records)],
        );
        // 4. Delivered on commit only.
        await tx.query('select pg_notify($1, $2)', [CHANNEL, notifyData(topic)]);
      });
    },

    consume,

    async lag(groupId, topic) {
      return sql.query<{ partition: number; committed: string | null; end: string }>(
        `select lp.partition, c.committed_offset::text as committed, lp.next_offset::text as "end"
         from message_log.partitions lp
         left join message_log.commits c on c.group_id = $1 and c.topic = lp.topic and c.partition = lp.partition
         where lp.topic = $2
         order by lp.partition`,
        [groupId, topic],
      );
    },

    async ping() {
      await sql.query('select 1');
    },

    async close() {
      await Promise.all([...consumers].map((c) => c.stop()));
      const stop = await unlisten;
      unlisten = null;
      await stop?.();
    },
  };
};
