import { randomBytes, randomUUID } from 'node:crypto';
import test from 'ava';
import { topicOf, type DomainEvent, type RecordedEvent } from '@lectern/schemas';
import {
  decisionEventsOf,
  isDeliveryEvent,
  notificationStreamId,
} from '@lectern/schemas/notifications/events';
import { templateRenderer } from '@lectern/schemas/notifications/render';
import { derivedDigits, linkToken, messageKeys, type MessageKeys } from '@lectern/infra/auth/message-secrets';
import { codeHash, randomToken, tokenHash } from '@lectern/infra/auth/secrets';
import { sqlEventStore } from '@lectern/infra/event-store/sql-store';
import { kafkaLog } from '@lectern/infra/message-log/kafka';
import { sqlLog } from '@lectern/infra/message-log/sql-log';
import { devMailbox, type DevMailbox } from '@lectern/infra/notify/dev-mailbox';
import { failoverSender, failoverWarning } from '@lectern/infra/notify/failover';
import { httpSmsSender } from '@lectern/infra/notify/http-sender';
import { smtpSender } from '@lectern/infra/notify/smtp-sender';
import { SendError, type EmailSender } from '@lectern/infra/ports/channel-sender';
import type { EventStore } from '@lectern/infra/ports/event-store';
import type { MessageLog } from '@lectern/infra/ports/message-log';
import { toLogMessage } from '@lectern/infra/runtime/codec';
import { dlqTopicOf } from '@lectern/infra/runtime/dead-letters';
import { createLogger } from '@lectern/infra/runtime/logger';
import { startReactor, workOf, type RunningReactor } from '@lectern/infra/runtime/reactor';
import { pgliteSql } from '@lectern/infra/sql/pglite';
import { postgresSql } from '@lectern/infra/sql/index';
import type { Sql } from '@lectern/infra/sql/sql';
import { freshDatabase, requireEngine } from '@lectern/infra/testing/engines';
import { mailpit } from '@lectern/infra/testing/mailpit';
import { startProviderSim, type ProviderSim } from '@lectern/infra/testing/provider-sim';
import { eventFeed } from '@lectern/infra/testing/projection-spec';
import { deterministicUuid } from '@lectern/infra/runtime/ids';
import { waitUntil } from '@lectern/infra/testing/wait';
import { deliveriesOfEvent } from './deliveries.ts';
import { migrateDeliveries } from './deliveries.ts';
import { notificationsReaction, type Senders } from './reaction.ts';

/**
 * The notifications worker on PGlite and the SQL log, with real providers:
 * e-mail through SMTP into mailpit, SMS through the HTTP provider double,
 * which is told what to answer. Each test plays identity: it derives the
 * secret with the message keys, puts only its hash into the event, and
 * checks that what arrives works against that hash.
 */

const smtpUrl = requireEngine(test, 'SMTP_URL', 'mailpit (SMTP)');
const mailpitUrl = requireEngine(test, 'MAILPIT_URL', 'mailpit (API)');
const databaseUrl = requireEngine(test, 'DATABASE_URL', 'PostgreSQL');
const kafkaBrokers = requireEngine(test, 'KAFKA_BROKERS', 'Kafka');

/**
 * Where the worker runs: PGlite with the table log (the embedded profile),
 * or PostgreSQL with Kafka (the distributed one) where they are set: the
 * provider tests run on each, since retries, Retry-After and failover ride
 * on the log's redelivery and commits.
 */
type Engine = 'pglite' | 'postgres+kafka';
const engines: readonly Engine[] = [
  'pglite',
  ...(databaseUrl && kafkaBrokers ? (['postgres+kafka'] as const) : []),
];

const logger = createLogger({ level: 'silent' });
const APP = 'https://app.lectern.test';
const feed = eventFeed({ startsAt: '2026-12-02T10:00:00.000Z' });
const T0 = Date.parse('2026-12-02T10:00:00.000Z');

type Fixture = Readonly<{
  sql: Sql;
  store: EventStore;
  log: MessageLog;
  namespace: string;
  keys: MessageKeys;
  mailbox: DevMailbox;
  sms: readonly ProviderSim[];
  clock: { t: number };
  pauses: number[];
  start(
    senders?: Partial<Senders>,
    keys?: MessageKeys,
    deps?: Partial<Parameters<typeof notificationsReaction>[0]>,
  ): Promise<RunningReactor>;
  publish(...events: RecordedEvent[]): Promise<void>;
  consumed(): Promise<void>;
  dlqCount(): Promise<number>;
  close(): Promise<void>;
}>;

const fixture = async (
  opts: { sms?: number; logger?: typeof logger; engine?: Engine } = {},
): Promise<Fixture> => {
  // What is open is closed in reverse, also when setting up fails half way:
  // a provider simulator left listening keeps the test worker alive for ever.
  const closers: (() => Promise<unknown>)[] = [];
  const closeAll = async () => {
    for (const close of closers.splice(0).reverse()) await close();
  };
  try {
    const db = opts.engine === 'postgres+kafka' ? await freshDatabase(databaseUrl!) : null;
    if (db) closers.push(() => db.drop());
    const sql = db ? postgresSql(db.url) : await pgliteSql(null);
    closers.push(() => sql.close());
    const log = db
      ? await kafkaLog({
          brokers: kafkaBrokers!.split(','),
          clientId: `lectern-test-${randomUUID().slice(0, 8)}`,
        })
      : await sqlLog(sql);
    if (db) closers.push(() => log.close());
    const sms = await Promise.all(
      Array.from({ length: opts.sms ?? 0 }, async () => {
        const sim = await startProviderSim();
        closers.push(() => sim.stop());
        return sim;
      }),
    );
    const running: RunningReactor[] = [];
    closers.push(async () => {
      for (const r of running) await r.stop();
    });
    const store = await sqlEventStore(sql);
    const mailbox = await devMailbox(sql);
    await migrateDeliveries(sql);
    return built({ sql, store, log, mailbox, sms, running, closeAll }, opts);
  } catch (error) {
    await closeAll().catch(() => {});
    throw error;
  }
};

const built = (
  parts: Pick<Fixture, 'sql' | 'store' | 'log' | 'mailbox' | 'sms'> & {
    running: RunningReactor[];
    closeAll: () => Promise<void>;
  },
  opts: { logger?: typeof logger },
): Fixture => {
  const { sql, store, log, mailbox, sms, running } = parts;
  const namespace = `n${randomUUID().slice(0, 8)}`;
  const keys = messageKeys([randomBytes(32)]);
  const clock = { t: T0 + 60_000 };
  const pauses: number[] = [];
  return {
    sql,
    store,
    log,
    namespace,
    keys,
    mailbox,
    sms,
    clock,
    pauses,
    async start(senders = {}, workerKeys = keys, extra = {}) {
      const smsSenders = await Promise.all(
        sms.map((s, i) => httpSmsSender({ name: `sms-${i}`, url: s.url })),
      );
      const reactor = await startReactor({
        reaction: notificationsReaction({
          sql,
          store,
          senders: {
            email: mailbox.email,
            sms: smsSenders.length
              ? failoverSender(smsSenders, failoverWarning(opts.logger ?? logger, 'sms'))
              : mailbox.sms,
            push: mailbox.push,
            ...senders,
          },
          keys: workerKeys,
          renderer: templateRenderer(),
          appUrl: APP,
          apiUrl: 'https://api.lectern.test',
          from: 'Lectern <no-reply@lectern.test>',
          recipientOf: async () => null,
          preferencesOf: async () => ({ channels: { email: true, sms: true, push: true }, devices: [] }),
          followersOf: async () => [],
          recipientsOf: async () => new Map(),
          ownersOf: async () => [],
          recipientsApplied: async (ids) => new Set(ids),
          preferencesOfUsers: async () => new Map(),
          clock: { now: () => new Date(clock.t) },
          ...extra,
        }),
        sql,
        log,
        logger: opts.logger ?? logger,
        namespace,
        attempts: 4,
        baseDelayMs: 100,
        now: () => clock.t,
        sleep: async (ms) => void pauses.push(ms),
        random: () => 0.5,
      });
      await reactor.start();
      running.push(reactor);
      return reactor;
    },
    async publish(...events) {
      for (const e of events) {
        const topic = topicOf(e.type.slice(0, e.type.indexOf('.')), namespace);
        await log.ensureTopics([{ topic, partitions: 4 }]);
        await log.produce(topic, [toLogMessage(e)]);
      }
    },
    async consumed() {
      // Bounds a hang, not a speed: beside stress-ng an SMTP round trip and its commit took over a minute.
      for (const context of ['identity', 'content'])
        await waitUntil(
          `the worker consumed ${context}`,
          async () =>
            (await log.lag(`${namespace}.worker.notifications`, topicOf(context, namespace))).every(
              (p) => (p.committed ?? '0') === p.end,
            ),
          300_000,
        );
    },
    async dlqCount() {
      const lag = await log.lag(`${namespace}.nobody`, dlqTopicOf(namespace, 'worker.notifications'));
      return lag.reduce((n, p) => n + Number(p.end), 0);
    },
    close: parts.closeAll,
  };
};

/** Identity's registration: the user and the verification request, whose token only the keys can make again. */
const registration = (keys: MessageKeys, email = `n-${randomUUID().slice(0, 8)}@example.org`) => {
  const userId = randomUUID();
  const requestedAt = new Date(T0).toISOString();
  const token = linkToken(userId, keys.derive('verify-email', [userId, email, requestedAt]));
  const [registered, requested] = feed.append(`user-${userId}`, [
    {
      type: 'identity.UserRegistered',
      data: { userId, email, passwordHash: 'scrypt$…', roles: ['learner'], registeredAt: requestedAt },
    },
    {
      type: 'identity.EmailVerificationRequested',
      data: {
        userId,
        email,
        purpose: 'register',
        tokenHash: tokenHash(token),
        expiresAt: new Date(T0 + 86_400_000).toISOString(),
        requestedAt,
      },
    },
  ] as DomainEvent[]);
  return { userId, email, token, registered: registered!, requested: requested! };
};

/** Identity's phone code: its hash and salt in the event, the code derived from the number and the code id. */
const phoneCode = async (
  keys: MessageKeys,
  phone = `+4915${String(Math.floor(Math.random() * 1e8)).padStart(8, '0')}`,
) => {
  const codeId = randomUUID();
  const userId = randomUUID();
  const code = derivedDigits(keys.derive('phone-code', [phone, codeId]));
  const salt = randomToken(16);
  const [sent] = feed.append(`phone-${randomUUID()}`, [
    {
      type: 'identity.PhoneCodeSent',
      data: {
        phone,
        userId,
        codeId,
        codeHash: await codeHash(code, salt),
        codeSalt: salt,
        expiresAt: new Date(T0 + 600_000).toISOString(),
        sentAt: new Date(T0).toISOString(),
      },
    },
  ] as DomainEvent[]);
  return { phone, code, event: sent! };
};

test('a registration delivered twice sends one welcome and one working verification link', async (t) => {
  const f = await fixture();
  try {
    await f.start();
    const r = registration(f.keys);
    await f.publish(r.registered, r.requested, r.registered, r.requested);
    await f.consumed();
    const mail = await f.mailbox.list(r.email);
    t.deepEqual(mail.map((m) => m.template).sort(), ['verify-email', 'welcome']);
    const verify = mail.find((m) => m.template === 'verify-email')!;
    t.true(verify.text.includes(`${APP}/verify-email#token=${r.token}`), verify.text);
    t.truthy(verify.html?.includes('verify-email#token='));
    t.like((await deliveriesOfEvent(f.sql, r.requested.id))[0], {
      status: 'sent',
      template: 'verify-email',
      channel: 'email',
      provider: 'dev-mailbox',
      attempts: 1,
      userId: r.userId,
    });
    t.false(
      (await deliveriesOfEvent(f.sql, r.requested.id))[0]!.address.includes(r.email),
      'the delivery log keeps a masked address',
    );
  } finally {
    await f.close();
  }
});

test('a replay after the work rows are gone still sends nothing: the notification ids hold forever', async (t) => {
  const f = await fixture();
  try {
    await f.start();
    const r = registration(f.keys);
    await f.publish(r.registered, r.requested);
    await f.consumed();
    t.is((await f.mailbox.list(r.email)).length, 2);
    // As if reactor_work had been wiped, or another reaction replayed the topic.
    await f.sql.query('delete from reactor_work');
    await f.publish(r.registered, r.requested);
    await f.consumed();
    t.is((await f.mailbox.list(r.email)).length, 2);
    t.like(await workOf(f.sql, 'notifications', r.registered.id), { state: 'done', outcome: 'skipped' });
  } finally {
    await f.close();
  }
});

for (const engine of engines) {
  test(`${engine}: an SMS provider answering 500 twice and then 200 sends the code once, after retries`, async (t) => {
    // The worker's warnings say why each try failed, should more fail than the two scripted.
    const warnings: string[] = [];
    const warned = createLogger({
      level: 'warn',
      destination: { write: (line) => void warnings.push(line) },
    });
    const f = await fixture({ sms: 1, engine, logger: warned });
    try {
      await f.sms[0]!.script([500, 500, 200]);
      await f.start();
      const p = await phoneCode(f.keys);
      await f.publish(p.event);
      await f.consumed();
      for (const line of warnings) {
        const l = JSON.parse(line) as { msg: string; attempt?: number; err?: { message?: string } };
        if (l.msg === 'reaction failed; retrying') t.log(`try ${l.attempt} failed: ${l.err?.message}`);
      }
      const requests = await f.sms[0]!.requests();
      t.deepEqual(
        requests.map((r) => r.status),
        [500, 500, 200],
      );
      t.is(
        new Set(requests.map((r) => r.headers['idempotency-key'])).size,
        1,
        'one message id for every try',
      );
      t.true(String((requests[2]!.body as { text: string }).text).includes(p.code));
      const [row] = await deliveriesOfEvent(f.sql, p.event.id);
      t.like(row, { status: 'sent', attempts: 3, provider: 'sms-0' });
      t.is(await f.dlqCount(), 0);
      // Every decision is an event of the notification's stream: two failed tries, then sent.
      const decisions = await f.store.readStream(notificationStreamId(row!.notificationId));
      t.deepEqual(
        decisions.map((e) => [e.type, (e.data as { attempts: number }).attempts]),
        [
          ['notifications.NotificationFailed', 1],
          ['notifications.NotificationFailed', 2],
          ['notifications.NotificationSent', 3],
        ],
      );
      t.is(decisions[0]!.metadata.causationId, p.event.id);
      t.deepEqual(f.pauses, [150, 300], 'backoff doubled, with jitter');
    } finally {
      await f.close();
    }
  });

  test(`${engine}: a provider's 429 with Retry-After is asked again no sooner than it said`, async (t) => {
    const f = await fixture({ sms: 1, engine });
    try {
      await f.sms[0]!.script([{ status: 429, retryAfter: '7' }, 200]);
      await f.start();
      const p = await phoneCode(f.keys);
      await f.publish(p.event);
      await f.consumed();
      t.deepEqual(
        (await f.sms[0]!.requests()).map((r) => r.status),
        [429, 200],
      );
      t.deepEqual(f.pauses, [7000], 'Retry-After: 7, not the 150 ms backoff');
      const [row] = await deliveriesOfEvent(f.sql, p.event.id);
      t.like(row, { status: 'sent', attempts: 2 });
    } finally {
      await f.close();
    }
  });

  test(`${engine}: a 400 from the provider dead-letters at once, with the reason recorded`, async (t) => {
    const f = await fixture({ sms: 1, engine });
    try {
      await f.sms[0]!.script([400]);
      await f.start();
      const p = await phoneCode(f.keys);
      await f.publish(p.event);
      await f.consumed();
      t.is((await f.sms[0]!.requests()).length, 1);
      t.is(await f.dlqCount(), 1);
      const [row] = await deliveriesOfEvent(f.sql, p.event.id);
      t.like(row, { status: 'dead', attempts: 1, provider: 'sms-0' });
      t.regex(row!.reason ?? '', /400/);
      t.like(await workOf(f.sql, 'notifications', p.event.id), { state: 'dead' });
    } finally {
      await f.close();
    }
  });

  test(`${engine}: a notification's log lines name its causing event and correlation id, through retry and dead letter`, async (t) => {
    const lines: Record<string, unknown>[] = [];
    const captured = createLogger({ destination: { write: (line) => void lines.push(JSON.parse(line)) } });
    const f = await fixture({ sms: 1, logger: captured, engine });
    try {
      await f.sms[0]!.script([503, 400]);
      await f.start();
      const p = await phoneCode(f.keys);
      const other = await phoneCode(f.keys);
      await f.publish(p.event, other.event);
      await f.consumed();
      const cause = { eventId: p.event.id, correlationId: p.event.metadata.correlationId };
      t.truthy(cause.correlationId);
      const of = (msg: string) => lines.filter((l) => l.msg === msg && l.eventId === p.event.id);
      t.like(of('reaction failed; retrying')[0], { ...cause, reactor: 'notifications', attempt: 1 });
      t.like(of('message dead-lettered')[0], { ...cause, reactor: 'notifications', attempt: 2 });
      // The other code went out on the provider's next answer (200), and says so with its own ids.
      t.like(
        lines.find((l) => l.msg === 'reacted' && l.eventId === other.event.id),
        { correlationId: other.event.metadata.correlationId, outcome: 'sent' },
      );
      t.false(JSON.stringify(lines).includes(p.code), 'the code never reaches the log');
    } finally {
      await f.close();
    }
  });

  test(`${engine}: a failing primary fails over to the secondary in the same attempt, and says so with the causing ids`, async (t) => {
    const lines: Record<string, unknown>[] = [];
    const captured = createLogger({ destination: { write: (line) => void lines.push(JSON.parse(line)) } });
    const f = await fixture({ sms: 2, engine, logger: captured });
    try {
      await f.sms[0]!.script([503]);
      await f.start();
      const p = await phoneCode(f.keys);
      await f.publish(p.event);
      await f.consumed();
      t.deepEqual(
        (await f.sms[0]!.requests()).map((r) => r.status),
        [503],
      );
      t.deepEqual(
        (await f.sms[1]!.requests()).map((r) => r.status),
        [200],
      );
      t.like((await deliveriesOfEvent(f.sql, p.event.id))[0], {
        status: 'sent',
        attempts: 1,
        provider: 'sms-1',
      });
      const warnings = lines.filter((l) => l.msg === 'sms: failing over');
      t.is(warnings.length, 1);
      t.like(warnings[0], {
        level: 40,
        from: 'sms-0',
        to: 'sms-1',
        code: '503',
        failure: 'transient',
        eventId: p.event.id,
        correlationId: p.event.metadata.correlationId,
      });
      t.truthy(p.event.metadata.correlationId);
      t.false(JSON.stringify(lines).includes(p.code), 'the code never reaches the log');
    } finally {
      await f.close();
    }
  });
}

test('a secret made with a key the worker does not hold is never sent; an expired link is suppressed', async (t) => {
  const f = await fixture();
  try {
    const stranger = messageKeys([randomBytes(32)]);
    await f.start();
    const foreign = registration(stranger);
    await f.publish(foreign.requested);
    await f.consumed();
    t.is((await f.mailbox.list(foreign.email)).length, 0);
    t.is(await f.dlqCount(), 1);
    const [refused] = await deliveriesOfEvent(f.sql, foreign.requested.id);
    t.like(refused, { status: 'dead' });
    t.regex(refused?.reason ?? '', /key this worker does not hold/);
    t.like((await f.store.readStream(notificationStreamId(refused!.notificationId)))[0]?.data, {
      deadLettered: true,
    });

    const late = registration(f.keys);
    f.clock.t = T0 + 2 * 86_400_000;
    await f.publish(late.requested);
    await f.consumed();
    t.is((await f.mailbox.list(late.email)).length, 0);
    t.like((await deliveriesOfEvent(f.sql, late.requested.id))[0], {
      status: 'suppressed',
      reason: 'expired',
    });
  } finally {
    await f.close();
  }
});

test('after a key rotation, a link asked for before it is still sent', async (t) => {
  const f = await fixture();
  try {
    const old = randomBytes(32);
    const r = registration(messageKeys([old]));
    await f.start({}, messageKeys([randomBytes(32), old]));
    await f.publish(r.requested);
    await f.consumed();
    t.true((await f.mailbox.list(r.email))[0]?.text.includes(r.token));
  } finally {
    await f.close();
  }
});

if (smtpUrl && mailpitUrl)
  test('over SMTP: one welcome and one verification e-mail reach mailpit, with our Message-ID', async (t) => {
    const f = await fixture();
    const smtp = await smtpSender({ url: smtpUrl, name: 'mailpit' });
    try {
      await f.start({ email: smtp });
      const r = registration(f.keys);
      await f.publish(r.registered, r.requested, r.registered);
      await f.consumed();
      const box = mailpit(mailpitUrl);
      const arrived = await box.waitFor(`to:"${r.email}"`, 2);
      t.is(arrived.length, 2);
      const verify = await box.message(
        arrived.find(
          (m) => m.MessageID.endsWith('@lectern.test') && !m.Subject.toLowerCase().includes('welcome'),
        )!.ID,
      );
      t.true(verify.Text.includes(r.token));
      const [row] = await deliveriesOfEvent(f.sql, r.requested.id);
      t.like(row, { status: 'sent', provider: 'mailpit' });
      t.true(arrived.some((m) => m.MessageID === `${row!.notificationId}@lectern.test`));
    } finally {
      await f.close();
      await smtp.close();
    }
  });

test('a course published to 1,201 followers: pages, preferences, devices, one bad address, and a replay that sends nothing', async (t) => {
  const f = await fixture();
  try {
    // 1. Followers: every tenth turned e-mail off, every hundredth has a phone for push, one address is refused.
    const followers: string[] = Array.from({ length: 1201 }, () => randomUUID() as string).sort();
    const devices = new Map(followers.map((u) => [u, randomUUID() as string]));
    const authorId = randomUUID();
    const bad = followers[7]!;
    const emailOf = (u: string) => `f-${u.slice(0, 8)}@example.org`;
    const refusing: EmailSender = {
      name: 'picky',
      send: async (m) => {
        if (m.to === emailOf(bad)) throw new SendError('picky', 'permanent', '550', 'no such mailbox');
        return f.mailbox.email.send(m);
      },
      close: async () => {},
    };
    const pages: (string | null)[] = [];
    const recipientOf = async (userId: string) =>
      userId === authorId
        ? { userId, email: 'author@example.org', phone: null, locale: null, displayName: 'Ada Lovelace' }
        : { userId, email: emailOf(userId), phone: null, locale: null };
    const preferencesOf = async (userId: string) => {
      const i = followers.indexOf(userId);
      return {
        channels: { email: i % 10 !== 3, sms: true, push: true },
        devices: i % 100 === 0 ? [{ deviceId: devices.get(userId)!, token: `device-${i}` }] : [],
      };
    };
    const many =
      <T>(one: (id: string) => Promise<T>) =>
      async (ids: readonly string[]) =>
        new Map(await Promise.all(ids.map(async (id) => [id, await one(id)] as const)));
    await f.start({ email: refusing }, undefined, {
      recipientOf,
      preferencesOf,
      recipientsOf: many(recipientOf),
      preferencesOfUsers: many(preferencesOf),
      followersOf: async (topics, page) => {
        t.deepEqual(
          topics.map((x) => x.kind),
          ['course', 'author'],
        );
        pages.push(page.afterUserId);
        const from = page.afterUserId === null ? 0 : followers.indexOf(page.afterUserId) + 1;
        // Odd followers follow the author only, every fifth both, the others the course.
        return followers.slice(from, from + page.limit).map((userId, i) => ({
          userId,
          topics: (from + i) % 2 === 1 ? [topics[1]!] : (from + i) % 5 === 0 ? [...topics] : [topics[0]!],
        }));
      },
    });
    const courseId = randomUUID();
    const [published] = feed.append(`course-${randomUUID()}`, [
      {
        type: 'content.CoursePublished',
        data: {
          courseId,
          authorId,
          title: 'Event sourcing',
          publishedAt: new Date(T0).toISOString(),
        },
      },
    ] as DomainEvent[]);
    await f.publish(published!);
    await f.consumed();
    // 2. Three pages; every follower's decision is a row; one bad address does not stop the others.
    t.deepEqual(pages.length, 3);
    const rows = await deliveriesOfEvent(f.sql, published!.id);
    const count = (status: string, channel = 'email') =>
      rows.filter((r) => r.status === status && r.channel === channel).length;
    t.is(count('sent'), 1201 - 120 - 1);
    t.is(count('suppressed'), 120);
    t.is(count('dead'), 1);
    t.is(count('sent', 'push'), 13);
    t.is(await f.dlqCount(), 0, 'the event itself is not dead-lettered');
    const mail = (await f.mailbox.list(emailOf(followers[1]!)))[0]!;
    t.is(mail.subject, 'New on Lectern: Event sourcing');
    t.true(mail.text.includes('Ada Lovelace'));
    // Each unsubscribe link names the topic its message came by: the course where followed, else the author.
    const scopeOf = async (i: number) =>
      /unsubscribe#token=[^.\s]+\.([^.\s]+)\./.exec(
        (await f.mailbox.list(emailOf(followers[i]!)))[0]!.text,
      )?.[1];
    t.is(await scopeOf(1), `author:${authorId}`);
    t.is(await scopeOf(2), `course:${courseId}`);
    t.is(await scopeOf(10), `course:${courseId}`, 'following both: the course');
    t.like(await workOf(f.sql, 'notifications', published!.id), { state: 'done' });
    // Every decision is in the log once: the fan-out's own stream, a few events of many decisions each.
    const fanoutStream = `notificationfanout-${deterministicUuid(`fanout/${published!.id}`)}`;
    const decisionsLogged = async () =>
      (await f.store.readStream(fanoutStream)).filter(isDeliveryEvent).flatMap(decisionEventsOf);
    const stream = await f.store.readStream(fanoutStream);
    t.true(stream.every((e) => e.type === 'notifications.NotificationsDecided'));
    t.true(stream.length <= 6, `${stream.length} events for 3 pages`);
    const logged = await decisionsLogged();
    t.is(logged.length, rows.length);
    t.deepEqual(logged.map((e) => e.data.notificationId).sort(), rows.map((r) => r.notificationId).sort());
    t.is(new Set(logged.map((e) => e.id)).size, rows.length);
    // 3. Delivered again: nothing more is sent.
    const before = (await f.sql.query<{ n: string }>('select count(*)::text as n from dev_outbox'))[0]!.n;
    await f.sql.query('delete from reactor_work');
    await f.publish(published!);
    await f.consumed();
    t.is((await f.sql.query<{ n: string }>('select count(*)::text as n from dev_outbox'))[0]!.n, before);
    t.is((await decisionsLogged()).length, rows.length, 'a replay appends no decision twice');
    t.is((await f.store.readStream(fanoutStream)).length, stream.length);
  } finally {
    await f.close();
  }
});

test('a follower the recipients read model has not applied yet is tried again, not suppressed as having no address', async (t) => {
  const f = await fixture();
  try {
    const authorId = randomUUID();
    // known and early: in the model; late: registered, but the model is held back; stranger: never registered.
    const [known, late, stranger] = [randomUUID(), randomUUID(), randomUUID()].sort() as [
      string,
      string,
      string,
    ];
    const emailOf = (u: string) => `h-${u.slice(0, 13)}@example.org`;
    const model = new Map([[known, { userId: known, email: emailOf(known), phone: null, locale: null }]]);
    let held = true;
    const asked: string[] = [];
    /** The model applies the late registration once the worker has been told it lags (between two tries). */
    const recipientsApplied = async (userIds: readonly string[]) => {
      asked.push(...userIds);
      if (!userIds.includes(late)) return new Set(userIds);
      if (held) {
        held = false;
        return new Set(userIds.filter((u) => u !== late));
      }
      model.set(late, { userId: late, email: emailOf(late), phone: null, locale: null });
      return new Set(userIds);
    };
    const recipientOf = async (userId: string) =>
      userId === authorId
        ? { userId, email: 'author@example.org', phone: null, locale: null, displayName: 'Ada' }
        : (model.get(userId) ?? null);
    await f.start({}, undefined, {
      recipientOf,
      recipientsOf: async (ids) =>
        new Map(ids.flatMap((id) => (model.has(id) ? [[id, model.get(id)!] as const] : []))),
      recipientsApplied,
      preferencesOfUsers: async (ids) =>
        new Map(ids.map((id) => [id, { channels: { email: true, sms: true, push: true }, devices: [] }])),
      followersOf: async (topics, page) =>
        page.afterUserId === null
          ? [known, late, stranger].map((userId) => ({ userId, topics: [topics[1]!] }))
          : [],
    });
    const [published] = feed.append(`course-${randomUUID()}`, [
      {
        type: 'content.CoursePublished',
        data: { courseId: randomUUID(), authorId, title: 'Lag', publishedAt: new Date(T0).toISOString() },
      },
    ] as DomainEvent[]);
    await f.publish(published!);
    await f.consumed();
    // 1. The late follower got their message on the second try; nobody got one twice.
    t.is(f.pauses.length, 1, 'one retry, with the backoff');
    t.like(await workOf(f.sql, 'notifications', published!.id), { state: 'done', attempts: 2 });
    t.is((await f.mailbox.list(emailOf(known))).length, 1);
    t.is((await f.mailbox.list(emailOf(late))).length, 1);
    // 2. Each decision once: the late one sent, the stranger (no registration at all) without an address.
    const rows = await deliveriesOfEvent(f.sql, published!.id);
    const of = (u: string) => rows.filter((r) => r.userId === u).map((r) => [r.status, r.reason]);
    t.deepEqual(of(known), [['sent', null]]);
    t.deepEqual(of(late), [['sent', null]]);
    t.deepEqual(of(stranger), [['suppressed', 'no address']]);
    t.false(asked.includes(known), 'a follower the model knows costs no look-up');
  } finally {
    await f.close();
  }
});

test('a fan-out whose record fails half-way is tried again: everyone gets their message, each decision is logged once', async (t) => {
  const f = await fixture();
  try {
    const followers: string[] = Array.from({ length: 1600 }, () => randomUUID() as string).sort();
    const authorId = randomUUID();
    const emailOf = (u: string) => `g-${u.slice(0, 13)}@example.org`;
    const recipientOf = async (userId: string) => ({
      userId,
      email: emailOf(userId),
      phone: null,
      locale: null,
    });
    const many =
      <T>(one: (id: string) => Promise<T>) =>
      async (ids: readonly string[]) =>
        new Map(await Promise.all(ids.map(async (id) => [id, await one(id)] as const)));
    // The second page's record fails once: the database went away.
    let appends = 0;
    const store: EventStore = {
      ...f.store,
      append: async (stream, events, opts) => {
        if (stream.startsWith('notificationfanout-') && ++appends === 2)
          throw new Error('the database went away');
        return f.store.append(stream, events, opts);
      },
    };
    await f.start({}, undefined, {
      store,
      recipientOf,
      recipientsOf: many(recipientOf),
      followersOf: async (topics, page) => {
        const from = page.afterUserId === null ? 0 : followers.indexOf(page.afterUserId) + 1;
        return followers.slice(from, from + page.limit).map((userId) => ({ userId, topics }));
      },
    });
    const [published] = feed.append(`course-${randomUUID()}`, [
      {
        type: 'content.CoursePublished',
        data: { courseId: randomUUID(), authorId, title: 'Retries', publishedAt: new Date(T0).toISOString() },
      },
    ] as DomainEvent[]);
    await f.publish(published!);
    await f.consumed();
    t.like(await workOf(f.sql, 'notifications', published!.id), { state: 'done', attempts: 2 });
    const rows = await deliveriesOfEvent(f.sql, published!.id);
    t.is(rows.length, 1600);
    t.true(rows.every((r) => r.status === 'sent'));
    // Sent at least once each; a message sent but not recorded when the try failed went again, as itself.
    const outbox = await f.sql.query<{ recipient: string; ids: string[] }>(
      `select recipient, array_agg(distinct message_id) as ids from dev_outbox
        where recipient like 'g-%' group by recipient`,
    );
    t.is(outbox.length, 1600);
    t.true(outbox.every((o) => o.ids.length === 1));
    const [copies] = await f.sql.query<{ n: string }>(
      "select count(*)::text as n from dev_outbox where recipient like 'g-%'",
    );
    t.log(`messages sent again after the failed record: ${Number(copies!.n) - 1600}`);
    const decisions = (
      await f.store.readStream(`notificationfanout-${deterministicUuid(`fanout/${published!.id}`)}`)
    )
      .filter(isDeliveryEvent)
      .flatMap(decisionEventsOf);
    t.is(decisions.length, 1600);
    t.is(new Set(decisions.map((d) => d.data.notificationId)).size, 1600);
  } finally {
    await f.close();
  }
});
