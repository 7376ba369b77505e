import { Router } from 'express';
import * as schema from '@lectern/schemas/content/index';
import { uuid, type Result } from '@lectern/schemas/validation';
import { optionalAuth, type VerifiedToken } from '@lectern/infra/http/auth';
import { awaitConsistency, type WaitFor } from '@lectern/infra/http/headers';
import { Problem, validationProblem } from '@lectern/infra/runtime/errors';
import type { SqlExecutor } from '@lectern/infra/sql/sql';
import {
  CATALOGUE,
  InvalidCursor,
  decodeCursor,
  getCourse,
  listCourses,
  type Viewer,
} from '@lectern/content-projection-catalogue';

export type ContentQueryDeps = Readonly<{
  /** The database holding the read models. */
  sql: SqlExecutor;
  verify: (token: string) => Promise<VerifiedToken>;
  waitFor: WaitFor;
}>;

const validated = <T>(r: Result<T>): T => {
  if (!r.ok) throw validationProblem(r.issues);
  return r.value;
};

/** A query value, validated with a pointer to its parameter; undefined when absent. */
const param = <T>(
  query: Record<string, unknown>,
  name: keyof typeof schema.catalogueQuery | 'after',
  v: (x: unknown, p: string) => Result<T>,
) => (query[name] === undefined ? undefined : validated(v(query[name], `/${name}`)));

const invalidCursor = () =>
  new Problem('validation', 'invalid_cursor', 'The cursor is not one this API returned for these filters.');

/* The catalogue is open to anyone (`optionalAuth`): a bad token, when sent, is 401, not silently anonymous. */

const viewerOf = (actor: { userId: string | null; roles: readonly string[] } | null | undefined): Viewer => ({
  userId: actor?.userId ?? null,
  admin: actor?.roles.includes('admin') ?? false,
});

/** Queries of the content context over the `course_catalog` read model. */
export const contentQueryRoutes = (deps: ContentQueryDeps): Router => {
  const router = Router();
  const id = uuid();

  router.get('/api/courses', optionalAuth(deps.verify), async (req, res) => {
    const query = req.query as Record<string, unknown>;
    const q = schema.catalogueQuery;
    const limit =
      query.limit === undefined
        ? schema.catalogueLimitDefault
        : (() => {
            const r = q.limit(query.limit, '/limit');
            if (!r.ok)
              throw new Problem('validation', 'invalid_limit', 'limit must be an integer from 1 to 100.', {
                issues: [{ path: '/limit', message: 'must be an integer from 1 to 100' }],
              });
            return r.value;
          })();
    const text = param(query, 'q', q.q);
    const status = param(query, 'status', q.status);
    const tags = param(query, 'tags', q.tags);
    const author = param(query, 'author', q.author);
    const cursor = param(query, 'cursor', q.cursor);
    const after = param(query, 'after', id);
    let decoded;
    try {
      decoded = cursor === undefined ? undefined : decodeCursor(cursor);
    } catch {
      throw invalidCursor();
    }
    // Read your writes: the token is a position in the stream of the course the write was about.
    if (after) await awaitConsistency(req, res, deps.waitFor, CATALOGUE, schema.courseStreamId(after));
    try {
      res.json(
        await listCourses(deps.sql, viewerOf(req.ctx.actor), {
          limit,
          ...(text === undefined ? {} : { q: text }),
          ...(status === undefined ? {} : { status }),
          ...(tags === undefined ? {} : { tags: tags.split(',') }),
          ...(author === undefined ? {} : { author }),
          ...(decoded === undefined ? {} : { after: decoded }),
        }),
      );
    } catch (error) {
      if (error instanceof InvalidCursor) throw invalidCursor();
      throw error;
    }
  });

  router.get('/api/courses/:courseId', optionalAuth(deps.verify), async (req, res) => {
    const courseId = validated(id(req.params.courseId, '/courseId'));
    await awaitConsistency(req, res, deps.waitFor, CATALOGUE, schema.courseStreamId(courseId));
    const found = await getCourse(deps.sql, viewerOf(req.ctx.actor), courseId);
    if (!found) throw new Problem('not_found', 'course_not_found', 'No such course.');
    res.setHeader('ETag', `"${found.revision}"`);
    res.json({ ...found.course, revision: found.revision });
  });

  return router;
};
