import { eventGuard, type CatalogueOf } from '../catalogue.ts';
import type { DomainEvent, RecordedEventOf } from '../envelope.ts';
import { isoTime, json, object, oneOf, string } from '../validation.ts';

/*
 * What admins did to the deployment, as facts in the store: each use of an
 * admin route that changes something or may (a rebuild, a redrive, a
 * republish, an audit, which repairs on request)
 * is one `adminaction-<id>` stream of one event, carrying the admin as its
 * actor and the request's correlation id, so `lectern history` and
 * `related` show who did what and when, and `lectern export --type
 * operations.AdminActionTaken` lists them all.
 */

export const adminActions = [
  'projection.rebuild',
  'deadletters.redrive',
  'events.republish',
  'projection.audit',
] as const;
export type AdminAction = (typeof adminActions)[number];

export type AdminActionTaken = Readonly<{
  action: AdminAction;
  /** What it was done to: a projection's name, a dead-letter topic, a position range. */
  target: string;
  /** What the admin asked for (the request's options). */
  parameters: unknown;
  /** `done`; `refused` when the action itself said no (a rebuild that did not verify). */
  outcome: 'done' | 'refused';
  /** What it answered: counts, a verification. */
  result: unknown;
  takenAt: string;
}>;

export type OperationsDomainEvent = DomainEvent<'operations.AdminActionTaken', AdminActionTaken>;
export type OperationsEvent = RecordedEventOf<OperationsDomainEvent>;

export const operationsEvents = {
  'operations.AdminActionTaken': [
    {
      version: 1,
      validate: object({
        action: oneOf(adminActions),
        target: string({ min: 1, max: 500 }),
        parameters: json(),
        outcome: oneOf(['done', 'refused'] as const),
        result: json(),
        takenAt: isoTime(),
      }),
    },
  ],
} satisfies CatalogueOf<OperationsDomainEvent>;

export const isOperationsEvent = eventGuard<OperationsDomainEvent>(operationsEvents);

/** The stream of one admin action. */
export const adminActionStreamId = (actionId: string): string => `adminaction-${actionId}`;
