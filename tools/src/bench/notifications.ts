import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { subscriptionsStreamId } from '@lectern/schemas/notifications/subscriptions';
import { notificationId } from '@lectern/notifications-worker';
import { sqlEventStore } from '@lectern/infra/event-store/sql-store';
import { postgresSql } from '@lectern/infra/sql/index';
import { mailpit } from '@lectern/infra/testing/mailpit';
import { startProviderSim } from '@lectern/infra/testing/provider-sim';
import { startServerProcess } from '@lectern/server/process';
import { benchId, throwawayDatabase, type Engines, type ThrowawayDatabase } from './engines.ts';
import { dropKafkaNamespace } from './logs.ts';
import { progress, summarize } from './stats.ts';

type Plan = Readonly<{ warmup: number; registrations: number }>;

/** When the welcome e-mail to `email` was accepted by the provider, in ms since the epoch; null while it has not been. */
type AcceptedAt = (email: string) => Promise<number | null>;

/**
 * Registrations one after another against a server in its own process;
 * each sample is from just before the register request to the moment the
 * provider took the welcome e-mail (the provider's own timestamp: the
 * development mailbox row's `sent_at`, or mailpit's `Created`). The path
 * is the whole pipeline: the append, the relay, the log, the worker, the
 * template, the provider.
 */
const run = async (env: Record<string, string>, plan: Plan, acceptedAt: (url: string) => AcceptedAt) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'lectern-bench-notify-'));
  const server = await startServerProcess({ ...env, LECTERN_DATA_DIR: dataDir });
  const accepted = acceptedAt(server.url);
  try {
    const samples: number[] = [];
    for (let i = 0; i < plan.warmup + plan.registrations; i++) {
      const email = `welcome-${i}-${randomUUID().slice(0, 8)}@example.org`;
      const start = Date.now();
      const res = await fetch(`${server.url}/api/identity/register`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-forwarded-for': `198.18.${Math.floor(i / 250) % 250}.${(i % 250) + 1}`,
        },
        body: JSON.stringify({ email, password: 'bench passphrase 0123456789' }),
      });
      await res.arrayBuffer();
      if (res.status !== 201) throw new Error(`register answered ${res.status}`);
      let at: number | null = null;
      for (const deadline = Date.now() + 60_000; at === null;) {
        at = await accepted(email);
        if (at === null && Date.now() > deadline) throw new Error(`no welcome e-mail for ${email}`);
        if (at === null) await new Promise((r) => setTimeout(r, 2));
      }
      if (i >= plan.warmup) samples.push(Math.max(0, at - start));
    }
    const latencyMs = summarize(samples);
    progress(`welcome e-mail accepted: p50 ${latencyMs.p50} ms, p99 ${latencyMs.p99} ms`);
    return { startupSeconds: server.startupSeconds, latencyMs };
  } finally {
    await server.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
};

/** The development mailbox's own timestamp of the welcome e-mail. */
const devMailboxAcceptedAt =
  (url: string): AcceptedAt =>
  async (email) => {
    const box = (await (await fetch(`${url}/api/dev/outbox?to=${encodeURIComponent(email)}`)).json()) as {
      items: { template: string; sentAt: string }[];
    };
    const welcome = box.items.find((m) => m.template === 'welcome');
    return welcome ? Date.parse(welcome.sentAt) : null;
  };

/**
 * Notifications: registration → welcome e-mail accepted by the provider,
 * p50 and p99, embedded (PGlite, the SQL log, the development mailbox) and
 * through PostgreSQL + Kafka into mailpit over SMTP when those are named.
 */
export const notificationsSection = async (engines: Engines, plan: Plan & { fanout: FanoutPlan }) => {
  const result: Record<string, unknown> = { registrations: plan.registrations };
  result.fanout = await notificationsFanoutSection(engines, plan.fanout);
  try {
    result.embedded = await run({}, plan, devMailboxAcceptedAt);
  } catch (error) {
    result.embedded = { error: String(error) };
  }
  const smtpUrl = process.env.SMTP_URL?.trim();
  const mailpitUrl = process.env.MAILPIT_URL?.trim();
  if (!engines.databaseUrl || !engines.kafkaBrokers || !smtpUrl || !mailpitUrl) {
    result.postgresKafkaSmtp = {
      skipped: 'DATABASE_URL, KAFKA_BROKERS, SMTP_URL and MAILPIT_URL are needed',
    };
    return result;
  }
  const namespace = benchId();
  let db: ThrowawayDatabase | null = null;
  const box = mailpit(mailpitUrl);
  try {
    db = await throwawayDatabase(engines.databaseUrl);
    result.postgresKafkaSmtp = await run(
      {
        DATABASE_URL: db.url,
        KAFKA_BROKERS: engines.kafkaBrokers.join(','),
        LECTERN_NAMESPACE: namespace,
        SMTP_URL: smtpUrl,
        LECTERN_MESSAGE_KEYS: randomBytes(32).toString('base64url'),
      },
      plan,
      () => async (email) => {
        const [welcome] = await box.search(`to:"${email}" subject:"Welcome"`);
        return welcome ? Date.parse(welcome.Created) : null;
      },
    );
  } catch (error) {
    result.postgresKafkaSmtp = { error: String(error) };
  } finally {
    await dropKafkaNamespace(engines.kafkaBrokers, namespace).catch(() => {});
    await db?.drop().catch(() => {});
  }
  return result;
};

type FanoutPlan = Readonly<{ followers: number }>;

const metadata = {
  correlationId: 'bench-fanout',
  causationId: null,
  actor: null,
  requestId: null,
  traceparent: null,
} as const;

/**
 * One `content.CoursePublished` fanned out to `followers` users who follow
 * its author, each with one push device, into a fast provider (the HTTP
 * provider double, answering 200 at once). Followers are seeded as events
 * straight into the store (a follow and a device each), then the relay and
 * the projections catch up; the figure is from the append of the
 * publication to the last push the provider took, as the worker's rows
 * say (watched with index lookups, the whole count only at the end). The
 * followers have no e-mail address (no registration was seeded),
 * so each also gets an e-mail decision: suppressed, `no address`.
 */
const fanout = async (engines: Engines, plan: FanoutPlan) => {
  if (!engines.databaseUrl) return { skipped: 'DATABASE_URL is needed' };
  const namespace = benchId();
  const db = await throwawayDatabase(engines.databaseUrl);
  const sim = await startProviderSim();
  const dataDir = await mkdtemp(join(tmpdir(), 'lectern-bench-fanout-'));
  const sql = postgresSql(db.url, { max: 16, applicationName: 'lectern-bench' });
  let server: Awaited<ReturnType<typeof startServerProcess>> | null = null;
  try {
    server = await startServerProcess({
      DATABASE_URL: db.url,
      ...(engines.kafkaBrokers ? { KAFKA_BROKERS: engines.kafkaBrokers.join(',') } : {}),
      LECTERN_NAMESPACE: namespace,
      LECTERN_DATA_DIR: dataDir,
      PUSH_PROVIDER_URL: sim.url,
      PUSH_MAX_PER_SECOND: '1000000',
      ...(process.env.BENCH_PROFILE_DIR
        ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}` }
        : {}),
    });
    const store = await sqlEventStore(sql);
    const authorId = randomUUID();
    const at = new Date().toISOString();
    /** The follower whose push is sent last (the fan-out goes in user-id order), and their device. */
    let lastFollower = { userId: '', deviceId: '', token: '' };
    // 1. Followers, 32 appends at a time.
    const seedStart = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < plan.followers) {
          const i = next++;
          const userId = randomUUID();
          const deviceId = randomUUID();
          const token = `bench-device-${i}`;
          if (userId > lastFollower.userId) lastFollower = { userId, deviceId, token };
          await store.append(
            subscriptionsStreamId(userId),
            [
              {
                id: randomUUID(),
                type: 'notifications.TopicSubscribed',
                schemaVersion: 1,
                occurredAt: at,
                data: { userId, topic: { kind: 'author', id: authorId }, subscribedAt: at },
                metadata,
              },
              {
                id: randomUUID(),
                type: 'notifications.PushDeviceRegistered',
                schemaVersion: 1,
                occurredAt: at,
                data: {
                  userId,
                  deviceId,
                  token,
                  platform: 'android',
                  registeredAt: at,
                },
                metadata,
              },
            ],
            { expectedRevision: 'no_stream' },
          );
        }
      }),
    );
    const followed = async () =>
      Number(
        (
          await sql.query<{ n: string }>(
            'select count(*)::text as n from notification_topic_subscribers where topic_id = $1::uuid',
            [authorId],
          )
        )[0]?.n ?? 0,
      );
    for (const deadline = Date.now() + 600_000; (await followed()) < plan.followers;) {
      if (Date.now() > deadline) throw new Error('the subscriptions projection did not catch up');
      await new Promise((r) => setTimeout(r, 200));
    }
    const seedSeconds = (performance.now() - seedStart) / 1000;
    progress(`fan-out: ${plan.followers} followers seeded and projected in ${seedSeconds.toFixed(1)} s`);
    // 2. The publication, then every push out.
    const published = randomUUID();
    const start = performance.now();
    await store.append(
      `course-${randomUUID()}`,
      [
        {
          id: published,
          type: 'content.CoursePublished',
          schemaVersion: 1,
          occurredAt: new Date().toISOString(),
          data: {
            courseId: randomUUID(),
            authorId,
            title: 'Bench course',
            publishedAt: new Date().toISOString(),
          },
          metadata,
        },
      ],
      { expectedRevision: 'no_stream' },
    );
    // Watched cheaply, so that watching takes little from the database under test: counting the
    // sent rows (up to 200k of them) ten times a second took a quarter of its CPU. Until the last
    // follower's push is sent, its row by its key each poll; then the count, to be sure of every one.
    const sent = async () =>
      Number(
        (
          await sql.query<{ n: string }>(
            `select count(*)::text as n from notification_deliveries
              where event_id = $1::uuid and channel = 'push' and status = 'sent'`,
            [published],
          )
        )[0]?.n ?? 0,
      );
    const anySent = async () =>
      (
        await sql.query(
          `select 1 from notification_deliveries
            where event_id = $1::uuid and channel = 'push' and status = 'sent' limit 1`,
          [published],
        )
      ).length > 0;
    const last = notificationId(published, {
      channel: 'push',
      userId: lastFollower.userId,
      address: lastFollower.token,
      deviceId: lastFollower.deviceId,
    });
    const lastSent = async () =>
      (
        await sql.query(
          `select 1 from notification_deliveries where notification_id = $1::uuid and status = 'sent'`,
          [last],
        )
      ).length > 0;
    let firstAt: number | null = null;
    for (const deadline = Date.now() + 1_800_000; ;) {
      if (firstAt === null && (await anySent())) firstAt = performance.now();
      // Once the last is out, only a retried one can be missing: counted twice a second then.
      const n = (await lastSent()) ? await sent() : 0;
      if (n >= plan.followers) break;
      if (Date.now() > deadline) throw new Error(`not all ${plan.followers} pushes were sent in 30 min`);
      await new Promise((r) => setTimeout(r, n > 0 ? 500 : 20));
    }
    const seconds = (performance.now() - start) / 1000;
    const received = (await sim.requests()).length;
    progress(
      `fan-out: ${plan.followers} pushes in ${seconds.toFixed(1)} s (${Math.round(plan.followers / seconds)}/s)`,
    );
    return {
      followers: plan.followers,
      transport: engines.kafkaBrokers ? 'postgres+kafka' : 'postgres (SQL log)',
      provider: 'the HTTP provider double (a process of its own, answering 200 at once)',
      seedSeconds: Math.round(seedSeconds * 10) / 10,
      allSentSeconds: Math.round(seconds * 10) / 10,
      firstSentSeconds: firstAt === null ? null : Math.round(((firstAt - start) / 1000) * 100) / 100,
      perSecond: Math.round(plan.followers / seconds),
      providerRequests: received,
    };
  } finally {
    await server?.stop();
    await sim.stop();
    await sql.close();
    if (engines.kafkaBrokers) await dropKafkaNamespace(engines.kafkaBrokers, namespace).catch(() => {});
    await db.drop().catch(() => {});
    await rm(dataDir, { recursive: true, force: true });
  }
};

/** The fan-out part of the notifications section (see `fanout`). */
export const notificationsFanoutSection = async (engines: Engines, plan: FanoutPlan) => {
  try {
    return await fanout(engines, plan);
  } catch (error) {
    return { error: String(error) };
  }
};
