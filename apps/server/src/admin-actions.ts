import { randomUUID } from 'node:crypto';
import type { Request } from 'express';
import type { EventStore } from '@lectern/infra/ports/event-store';
import { eventMetadata } from '@lectern/infra/runtime/context';
import { recordStream, type StreamKind } from '@lectern/infra/runtime/stream-kinds';
import {
  adminActionStreamId,
  operationsEvents,
  type AdminActionTaken,
  type OperationsDomainEvent,
} from '@lectern/schemas/operations/events';

/** `adminaction-<id>` streams, as the audit tools read them: facts, no state. */
export const adminActionStreams: readonly StreamKind[] = [
  recordStream<OperationsDomainEvent>({
    category: 'adminaction',
    description: 'what an admin did to the deployment: a rebuild, a redrive, a republish',
    catalogue: operationsEvents,
    types: { 'operations.AdminActionTaken': true },
  }),
];

/** Records one admin action; resolves to its stream id. */
export type RecordAdminAction = (req: Request, action: Omit<AdminActionTaken, 'takenAt'>) => Promise<string>;

/**
 * Records each use of an admin route that changes something as an event of
 * its own stream, with the admin as actor and the request's correlation
 * id: who rebuilt, redrove or republished what, and when, is then in the
 * store, read back with `lectern history`, `related` and `export`. Recorded
 * after the action, with its result; an action that failed on an error
 * changed nothing to record (and its request is in the log with the error).
 *
 * @example
 *   const record = adminActionRecorder(store);
 *   await record(req, { action: 'events.republish', target: '10..20', parameters, outcome: 'done', result });
 */
export const adminActionRecorder =
  (store: EventStore): RecordAdminAction =>
  async (req, action) => {
    const id = randomUUID();
    const data: AdminActionTaken = { ...action, takenAt: new Date().toISOString() };
    const checked = operationsEvents['operations.AdminActionTaken'][0]!.validate(data);
    if (!checked.ok) throw new Error(`an admin action that is no event: ${JSON.stringify(checked.issues)}`);
    const streamId = adminActionStreamId(id);
    await store.append(
      streamId,
      [
        {
          id,
          type: 'operations.AdminActionTaken',
          schemaVersion: 1,
          occurredAt: data.takenAt,
          data,
          metadata: eventMetadata(req.ctx),
        },
      ],
      { expectedRevision: 'no_stream' },
    );
    return streamId;
  };
