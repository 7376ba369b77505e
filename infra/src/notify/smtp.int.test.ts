import { randomUUID } from 'node:crypto';
import { createServer, type AddressInfo } from 'node:net';
import test from 'ava';
import { SendError, type EmailMessage } from '../ports/channel-sender.ts';
import { requireEngine } from '../testing/engines.ts';
import { mailpit } from '../testing/mailpit.ts';
import { failoverSender } from './failover.ts';
import { smtpFailure, smtpSender } from './smtp-sender.ts';

/**
 * The SMTP sender against a real SMTP server, mailpit (infra/local/mailpit.sh),
 * read back through mailpit's HTTP API.
 */
const smtpUrl = requireEngine(test, 'SMTP_URL', 'mailpit (SMTP)');
const mailpitUrl = requireEngine(test, 'MAILPIT_URL', 'mailpit (API)');

const box = mailpitUrl ? mailpit(mailpitUrl) : null;

/** The message mailpit holds with this Message-ID (brackets off), waiting for it a bounded while. */
const arrived = async (messageId: string) =>
  (await box!.waitFor(`message-id:"${messageId.replace(/^<|>$/g, '')}"`))[0]!;

/**
 * How long the tests' senders wait on mailpit. The production default (10 s)
 * is a guess about a healthy server; on a loaded machine mailpit can take
 * longer than that to swallow a 52 MB message, and these tests are about how
 * answers are classified, not about speed.
 */
const PATIENT_MS = 120_000;

const message = (over: Partial<EmailMessage> = {}): EmailMessage => {
  const id = randomUUID();
  return {
    messageId: `<${id}@lectern.test>`,
    tag: 'welcome',
    from: 'Lectern <no-reply@lectern.test>',
    to: `learner-${id.slice(0, 8)}@example.org`,
    subject: `Welcome ${id.slice(0, 8)}`,
    text: 'Hello, learner.',
    html: '<p>Hello, <b>learner</b>.</p>',
    headers: { 'List-Unsubscribe': `<https://lectern.test/u/${id}>` },
    ...over,
  };
};

if (smtpUrl && mailpitUrl) {
  test.serial(
    'a message reaches the server with its parts and headers, and the server names it',
    async (t) => {
      const smtp = await smtpSender({ url: smtpUrl, name: 'mailpit', timeoutMs: PATIENT_MS });
      try {
        const m = message();
        const sent = await smtp.send(m);
        t.is(sent.provider, 'mailpit');
        t.truthy(sent.providerMessageId);
        const summary = await arrived(m.messageId);
        t.is(summary.Subject, m.subject);
        t.deepEqual(
          summary.To.map((a) => a.Address),
          [m.to],
        );
        const full = await box!.message(summary.ID);
        t.is(full.Text.trim(), m.text);
        t.true(full.HTML.includes('<b>learner</b>'));
        const headers = await box!.headers(summary.ID);
        t.deepEqual(headers['List-Unsubscribe'], [m.headers['List-Unsubscribe']]);
      } finally {
        await smtp.close();
      }
    },
  );

  test.serial('a message the server refuses (over its size limit) fails permanently', async (t) => {
    const smtp = await smtpSender({ url: smtpUrl, name: 'mailpit', timeoutMs: PATIENT_MS });
    try {
      // mailpit takes at most 50 MB (its default --max-message-size) and answers 5xx beyond.
      const error = await t.throwsAsync(
        smtp.send(message({ text: 'x'.repeat(52 * 1024 * 1024), html: null })),
        {
          instanceOf: SendError,
        },
      );
      t.is(error?.failure, 'permanent', error?.message);
      t.regex(error?.code ?? '', /^5\d\d$/);
      t.is(error?.provider, 'mailpit');
    } finally {
      await smtp.close();
    }
  });
}

/** A port that was free a moment ago: nothing listens there. */
const closedPort = () =>
  new Promise<number>((resolve) => {
    const probe = createServer();
    probe.listen(0, '127.0.0.1', () => {
      const { port: p } = probe.address() as AddressInfo;
      probe.close(() => resolve(p));
    });
  });

if (smtpUrl && mailpitUrl) {
  test.serial(
    'failover: an unreachable primary hands over to the secondary; a refusal does not',
    async (t) => {
      const down = await smtpSender({
        url: `smtp://127.0.0.1:${await closedPort()}`,
        name: 'primary',
        timeoutMs: 2000,
      });
      const mailpit = await smtpSender({ url: smtpUrl, name: 'mailpit', timeoutMs: PATIENT_MS });
      const moves: string[] = [];
      const both = failoverSender([down, mailpit], (from, to, e) => moves.push(`${from}>${to}:${e.failure}`));
      try {
        t.is(both.name, 'primary>mailpit');
        const m = message();
        const sent = await both.send(m);
        t.is(sent.provider, 'mailpit');
        t.deepEqual(moves, ['primary>mailpit:transient']);
        t.is((await arrived(m.messageId)).Subject, m.subject);

        // mailpit first now: it refuses an oversize message for good, so the next is never asked.
        let asked = 0;
        const counted = {
          ...down,
          name: 'counted',
          send: async (x: EmailMessage) => (asked++, down.send(x)),
        };
        const refusing = failoverSender([mailpit, counted]);
        const error = await t.throwsAsync(
          refusing.send(message({ text: 'x'.repeat(52 * 1024 * 1024), html: null })),
          { instanceOf: SendError },
        );
        t.is(error?.failure, 'permanent');
        t.is(error?.provider, 'mailpit');
        t.is(asked, 0);
      } finally {
        await both.close();
      }
    },
  );
}

test('a server that cannot be reached is a transient failure, and so is every provider of a failover', async (t) => {
  const port = await closedPort();
  const smtp = await smtpSender({ url: `smtp://127.0.0.1:${port}`, name: 'nowhere', timeoutMs: 2000 });
  try {
    const error = await t.throwsAsync(smtp.send(message()), { instanceOf: SendError });
    t.is(error?.failure, 'transient');
    t.is(error?.provider, 'nowhere');
    const elsewhere = await smtpSender({ url: `smtp://127.0.0.1:${await closedPort()}`, name: 'elsewhere' });
    const last = await t.throwsAsync(failoverSender([smtp, elsewhere]).send(message()), {
      instanceOf: SendError,
    });
    t.is(last?.failure, 'transient');
    t.is(last?.provider, 'elsewhere', 'the last provider tried');
    await elsewhere.close();
  } finally {
    await smtp.close();
  }
});

test('SMTP replies classify themselves: 4xx transient, 5xx permanent; no reply is transient', (t) => {
  t.deepEqual(smtpFailure({ responseCode: 451, code: 'EENVELOPE' }), { failure: 'transient', code: '451' });
  t.deepEqual(smtpFailure({ responseCode: 550, code: 'EENVELOPE' }), { failure: 'permanent', code: '550' });
  t.deepEqual(smtpFailure({ code: 'ECONNECTION' }), { failure: 'transient', code: 'ECONNECTION' });
  t.deepEqual(smtpFailure({ code: 'ETIMEDOUT' }), { failure: 'transient', code: 'ETIMEDOUT' });
  t.deepEqual(smtpFailure({ code: 'EENVELOPE' }), { failure: 'permanent', code: 'EENVELOPE' });
  t.deepEqual(smtpFailure(new Error('boom')), { failure: 'transient', code: null });
});

test('credentials never ride in the URL', async (t) => {
  await t.throwsAsync(smtpSender({ url: 'smtp://user:secret@127.0.0.1:25' }), {
    message: /must not carry credentials/,
  });
  await t.throwsAsync(smtpSender({ url: 'http://127.0.0.1:25' }), { message: /smtp:\/\/ or smtps:\/\// });
});
