import type { Request, Response } from 'express';
import { Problem } from '../runtime/errors.ts';

/**
 * `If-Match: "3"` → 3, `If-Match: *` or none → undefined. Revisions travel as
 * strong ETags holding the stream revision.
 */
export const ifMatchRevision = (req: Request): number | undefined => {
  const header = req.get('if-match');
  if (header === undefined || header.trim() === '*') return undefined;
  const m = /^\s*(?:W\/)?"(-?\d{1,15})"\s*$/.exec(header);
  if (!m)
    throw new Problem(
      'validation',
      'invalid_if_match',
      'If-Match must be an ETag this API returned, like "3".',
    );
  return Number(m[1]);
};

/** Answers a command: its revision as ETag, its global position as the consistency token. */
export const setCommandHeaders = (res: Response, revision: number, position: number | null): void => {
  res.setHeader('ETag', `"${revision}"`);
  if (position !== null) res.setHeader('X-Consistency-Token', String(position));
};

/** The consistency token a query sent back, if any. */
export const consistencyToken = (req: Request): number | undefined => {
  const header = req.get('x-consistency-token');
  if (header === undefined) return undefined;
  if (!/^\d{1,15}$/.test(header.trim()))
    throw new Problem(
      'validation',
      'invalid_consistency_token',
      'X-Consistency-Token must be a token a command returned.',
    );
  return Number(header);
};

/** How long a query waits for its read model to reach a token, unless the deployment says otherwise. */
export const CONSISTENCY_WAIT_MS = 3000;

/**
 * Waits, as long as the deployment allows, for a projection to reach a
 * token; the `X-Consistency` header says whether it did.
 */
export type WaitFor = (projection: string, streamId: string, position: number) => Promise<boolean>;

/** Whether the projection reached the request's token (as `X-Consistency` says); undefined without one. */
export const awaitConsistency = async (
  req: Request,
  res: Response,
  waitFor: WaitFor,
  projection: string,
  streamId: string,
): Promise<boolean | undefined> => {
  const token = consistencyToken(req);
  if (token === undefined) return undefined;
  const reached = await waitFor(projection, streamId, token);
  res.setHeader('X-Consistency', reached ? 'caught-up' : 'stale');
  return reached;
};
