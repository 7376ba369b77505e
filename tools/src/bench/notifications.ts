import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mailpit } from '@lectern/infra/testing/mailpit';
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
export const notificationsSection = async (engines: Engines, plan: Plan) => {
  const result: Record<string, unknown> = { registrations: plan.registrations };
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
