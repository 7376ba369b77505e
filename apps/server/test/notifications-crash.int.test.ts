import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { freshDatabase, requireEngine } from '@lectern/infra/testing/engines';
import { mailpit, type MailpitSummary } from '@lectern/infra/testing/mailpit';
import { startServerProcess, type ServerProcess } from '../src/process.ts';
import { jsonClient } from './http-client.ts';

/*
 * The notifications worker killed with SIGKILL mid-batch, on PostgreSQL +
 * Kafka + mailpit, as separate processes: an `api,relay,projections`
 * process takes the registrations, a `workers` process sends the e-mails
 * over SMTP. After the kill a new worker takes the group's partitions (and,
 * after their lease, the claims the dead one held) and every registration
 * has its welcome e-mail.
 *
 * What "exactly one" means here: each registration's welcome is one
 * message, one Message-ID (the notification's id), whoever sent it. The
 * worker marks a message sent after the server accepted it, so a kill
 * between the two makes the next worker send it again, with the same
 * Message-ID, which is how a receiving side recognises it (docs:
 * "at least once at the provider"). The test counts such copies: at most
 * the one message in flight at the kill; they are not new messages.
 */

const databaseUrl = requireEngine(test, 'DATABASE_URL', 'PostgreSQL');
const brokers = requireEngine(test, 'KAFKA_BROKERS', 'Kafka');
const smtpUrl = requireEngine(test, 'SMTP_URL', 'mailpit (SMTP)');
const mailpitUrl = requireEngine(test, 'MAILPIT_URL', 'mailpit (API)');

const USERS = 40;

if (databaseUrl && brokers && smtpUrl && mailpitUrl)
  test('a worker killed mid-batch and replaced: every registration gets its one welcome e-mail', async (t) => {
    const db = await freshDatabase(databaseUrl);
    const dirs: string[] = [];
    const processes: ServerProcess[] = [];
    const start = async (roles: string) => {
      const dir = await mkdtemp(join(tmpdir(), 'lectern-notify-crash-'));
      dirs.push(dir);
      const p = await startServerProcess({
        DATABASE_URL: db.url,
        KAFKA_BROKERS: brokers,
        LECTERN_NAMESPACE: `crash-${db.name}`,
        LECTERN_DATA_DIR: dir,
        LECTERN_ROLES: roles,
        LECTERN_MESSAGE_KEYS: keys,
        SMTP_URL: smtpUrl,
        // A kill -9 leaves the group's member registered until its session times out (6 s at least),
        // and its claims until their lease runs out.
        LECTERN_KAFKA_SESSION_TIMEOUT_MS: '6000',
        LECTERN_WORKER_LEASE_MS: '10000',
      });
      processes.push(p);
      return p;
    };
    const keys = randomBytes(32).toString('base64url');
    const box = mailpit(mailpitUrl, 180_000);
    const tag = randomUUID().slice(0, 8);
    const emails = Array.from({ length: USERS }, (_, i) => `crash-${tag}-${i}@example.org`);
    const welcomes = async (): Promise<readonly MailpitSummary[]> =>
      (await box.search(`to:"crash-${tag}-" subject:"Welcome"`)).filter((m) =>
        m.To.some((a) => a.Address.startsWith(`crash-${tag}-`)),
      );
    try {
      const api = await start('api,relay,projections');
      const worker = await start('workers');
      const http = jsonClient(() => api.url);
      // 1. Registrations, concurrently, while the worker sends.
      const registered = Promise.all(
        emails.map(async (email, i) => {
          const r = await http('POST', '/api/identity/register', {
            body: { email, password: 'correct horse battery staple' },
            headers: { 'x-forwarded-for': `198.51.100.${(i % 200) + 1}` },
          });
          if (r.status !== 201) throw new Error(`register ${email}: ${r.status} ${JSON.stringify(r.body)}`);
        }),
      );
      // 2. Killed as soon as the first welcomes are out, with the rest of the work in its hands.
      const deadline = Date.now() + 120_000;
      while ((await welcomes()).length < 3 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20));
      worker.child.kill('SIGKILL');
      await worker.exited;
      const before = (await welcomes()).length;
      t.log(`welcome e-mails out when the worker was killed: ${before} of ${USERS}`);
      t.true(before < USERS, 'the worker was killed with work left to do');
      await registered;
      // 3. A new worker finishes the work.
      await start('workers');
      const arrived = await (async () => {
        for (const end = Date.now() + 180_000; ;) {
          const found = await welcomes();
          const addresses = new Set(found.flatMap((m) => m.To.map((a) => a.Address)));
          if (emails.every((e) => addresses.has(e)) || Date.now() > end) return found;
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
      const byAddress = new Map<string, Set<string>>();
      for (const m of arrived)
        for (const a of m.To)
          byAddress.set(a.Address, (byAddress.get(a.Address) ?? new Set()).add(m.MessageID));
      t.deepEqual(
        emails.filter((e) => !byAddress.has(e)),
        [],
        'every registration has its welcome',
      );
      t.deepEqual(
        [...byAddress].filter(([, ids]) => ids.size !== 1).map(([a]) => a),
        [],
        'one message (one Message-ID) per registration',
      );
      const copies = arrived.length - byAddress.size;
      t.log(`copies of a message resent after the kill: ${copies}`);
      // A worker takes one event at a time (one batch of one partition, in order), so only the
      // message in flight when it died can have left without being marked sent: one copy at most,
      // and that copy is the same message (its Message-ID), never a second welcome.
      t.true(copies <= 1, `${copies} messages sent twice; only the one in flight at the kill may be`);
    } finally {
      for (const p of processes) await p.stop();
      await db.drop();
      for (const d of dirs) await rm(d, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    }
  });
