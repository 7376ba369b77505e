import type { ApiOperation } from '../openapi.ts';
import {
  arrayOf,
  boolean,
  describe,
  integer,
  integerString,
  isoTime,
  json,
  nullable,
  object,
  string,
} from '../validation.ts';

/*
 * Operating the dead-letter topics (apps/server's dead-letter routes,
 * `lectern dlq list|show|redrive`): a message a consumer could not handle is
 * set aside there with its error (ARCHITECTURE.md rule 10).
 */

const dlqTopic = describe(string({ min: 1, max: 249, pattern: /^[a-z][a-z0-9_-]*\.dlq\.[a-z0-9_.-]+$/ }), {
  description: 'A dead-letter topic: `<namespace>.dlq.<consumer>`.',
  example: 'lectern.dlq.projection.analytics',
});
const count = (description: string) => describe(integer({ min: 0 }), { description });

/** `?limit=` of `GET /api/admin/dead-letters/:topic`. */
export const deadLetterLimit = describe(integerString({ min: 1, max: 1000 }), {
  description: 'How many letters to show, oldest first (default 100).',
});

export const deadLetterTopicList = describe(
  object({
    items: arrayOf(
      object({
        topic: dlqTopic,
        total: count('Letters ever set aside in it.'),
        redriven: count('Of those, how many were redriven (the oldest: redrive goes in order).'),
        waiting: count('Letters not redriven yet.'),
      }),
    ),
  }),
  { title: 'DeadLetterTopicList', description: 'Every dead-letter topic of the deployment.' },
);

const letter = object({
  consumer: describe(string(), {
    description: 'The consumer that set it aside, e.g. `projection.analytics`.',
  }),
  source: object({
    topic: string(),
    partition: integer({ min: 0 }),
    offset: describe(string({ pattern: /^\d+$/ }), { description: 'A decimal string (64-bit).' }),
  }),
  key: string(),
  value: describe(string(), { description: 'The original message, unchanged.' }),
  headers: json(),
  error: object({
    name: string(),
    message: string(),
    code: describe(string(), {
      description: "The engine's own code when it gave one (ClickHouse error code, SQLSTATE); may be absent.",
    }),
  }),
  attempts: count('Tries before it was set aside.'),
  failedAt: isoTime(),
});

export const deadLetterPage = describe(
  object({
    topic: dlqTopic,
    items: arrayOf(
      object({
        offset: describe(string({ pattern: /^\d+$/ }), {
          description: 'Its offset in the dead-letter topic.',
        }),
        redriven: boolean(),
        letter: describe(nullable(letter), {
          description: '`null` when the message there is not a dead letter.',
        }),
      }),
    ),
  }),
  { title: 'DeadLetterPage' },
);

export const redriveResult = describe(
  object({
    topic: dlqTopic,
    redriven: count('Letters published again to the topics they came from.'),
    skipped: count('Messages in the topic that are not dead letters, passed over.'),
  }),
  { title: 'RedriveResult' },
);

const notFound = {
  status: 404,
  description: 'No dead-letter topic of that name in this deployment (`dead_letter_topic_not_found`).',
} as const;

export const deadLettersApi: readonly ApiOperation[] = [
  {
    method: 'get',
    path: '/api/admin/dead-letters',
    operationId: 'listDeadLetterTopics',
    summary: 'List the dead-letter topics',
    description: 'Each consumer\u2019s dead-letter topic with its letters, redriven and waiting.',
    tags: ['operations'],
    security: { roles: ['admin'] },
    responses: { 200: { description: 'The topics.', body: deadLetterTopicList } },
  },
  {
    method: 'get',
    path: '/api/admin/dead-letters/:topic',
    operationId: 'showDeadLetters',
    summary: 'Show the letters of a dead-letter topic',
    description: 'Oldest first, each with the original message and the error it met. Reading takes nothing.',
    tags: ['operations'],
    security: { roles: ['admin'] },
    params: { topic: dlqTopic },
    query: { limit: deadLetterLimit },
    responses: { 200: { description: 'The letters.', body: deadLetterPage } },
    errors: [{ status: 400, description: 'A limit out of range (`invalid_limit`).' }, notFound],
  },
  {
    method: 'post',
    path: '/api/admin/dead-letters/:topic/redrive',
    operationId: 'redriveDeadLetters',
    summary: 'Redrive the waiting letters of a dead-letter topic',
    description:
      'Publishes each waiting letter\u2019s original message again to the topic it came from, marked for the ' +
      'consumer that set it aside: that consumer applies it (a SQL read model even though its stream is past ' +
      'it), every other consumer drops it as a copy. Each letter is redriven once. Fix the cause first; a ' +
      'letter that fails again is set aside again.',
    tags: ['operations'],
    security: { roles: ['admin'] },
    params: { topic: dlqTopic },
    responses: { 200: { description: 'What was redriven.', body: redriveResult } },
    errors: [notFound],
  },
];
