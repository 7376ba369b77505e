import type { Express, RequestHandler } from 'express';
import { operationsApi, operationsTags } from '@lectern/schemas/operations/api';
import { deadLettersApi } from '@lectern/schemas/operations/dead-letters-api';
import { auditApi } from '@lectern/schemas/operations/audit-api';
import { openApiDocument, type OpenApiDocument } from '@lectern/schemas/openapi';
import { asyncApiDocument } from '@lectern/schemas/asyncapi';
import { operationsEvents } from '@lectern/schemas/operations/events';
import type { ApiSection } from '@lectern/infra/runtime/context-module';
import server from '../package.json' with { type: 'json' };
import { loadConfig } from './config.ts';
import { contextModules } from './modules.ts';

export type ApiContext = ApiSection;

/**
 * Every section of the API the `api` role mounts: each context module's,
 * and the platform's own (operating read models and dead letters, audit reads of the store). The one
 * list that the served document, `npm run openapi` and the route-coverage
 * test read. The sections do not depend on configuration, so the modules
 * are made with the development defaults here.
 */
export const apiContexts: readonly ApiContext[] = [
  ...contextModules(loadConfig({})).flatMap((m) => m.api ?? []),
  {
    name: 'operations',
    operations: [...operationsApi, ...deadLettersApi, ...auditApi],
    tags: operationsTags,
  },
];

const info = (title: string) => ({ title, version: server.version });

/** The AsyncAPI document, as `GET /asyncapi.json` serves it: the socket and every context's topics. */
export const asyncApi = () =>
  asyncApiDocument(info('Lectern events and realtime'), [
    ...contextModules(loadConfig({})).flatMap((m) => (m.asyncApi ? [m.asyncApi] : [])),
    {
      context: 'operations',
      topics: [
        {
          name: 'operations.events',
          description: 'What admins did: each rebuild, dead-letter redrive and republish, with its admin.',
          events: operationsEvents,
        },
      ],
    },
  ]);

/** The combined document, as `GET /openapi.json` serves it. */
export const apiDocument = (
  opts: Readonly<{ production?: boolean; contexts?: readonly ApiContext[] }> = {},
): OpenApiDocument => {
  const contexts = (opts.contexts ?? apiContexts).filter((c) => !(opts.production && c.developmentOnly));
  return openApiDocument(
    info('Lectern API'),
    contexts.flatMap((c) => c.operations),
    Object.assign({}, ...contexts.map((c) => c.tags)) as Record<string, string>,
  );
};

/** One context's own document (`<context>.openapi.json`). */
export const contextDocument = (context: ApiContext): OpenApiDocument =>
  openApiDocument(info(`Lectern API: ${context.name}`), context.operations, context.tags);

/**
 * `GET /openapi.json`. The document is built once, when the route is made:
 * a mistake in an operation (a duplicate id, a path the builder cannot
 * describe) stops the process at start rather than on the first request.
 */
export const openApiRoute = (document: object = apiDocument()): RequestHandler => {
  const body = JSON.stringify(document);
  return (_req, res) => {
    res.type('application/json').send(body);
  };
};

export type MountedRoute = Readonly<{ method: string; path: string }>;

type Layer = Readonly<{
  route?: { path: unknown; methods: Record<string, boolean> };
  handle?: { stack?: readonly Layer[] };
  slash?: boolean;
}>;

/**
 * The routes an express 5 app has mounted, from its router's stack, with
 * routers mounted at `/` (how ours are) walked into. A router mounted under
 * a prefix is refused: express 5 keeps no readable copy of the prefix, and a
 * coverage check that guessed would prove nothing.
 */
export const mountedRoutes = (app: Express): MountedRoute[] => {
  const walk = (stack: readonly Layer[]): MountedRoute[] =>
    stack.flatMap((layer): MountedRoute[] => {
      if (layer.route) {
        const paths = Array.isArray(layer.route.path) ? layer.route.path : [layer.route.path];
        return paths.flatMap((path) => {
          if (typeof path !== 'string')
            throw new Error(`a route has a path that is not a string: ${String(path)}`);
          return Object.keys(layer.route!.methods)
            .filter((m) => layer.route!.methods[m])
            .map((method) => ({ method, path }));
        });
      }
      if (layer.handle?.stack) {
        if (!layer.slash) throw new Error('a router is mounted under a prefix: its routes cannot be listed');
        return walk(layer.handle.stack);
      }
      return [];
    });
  return walk((app.router as unknown as { stack: readonly Layer[] }).stack);
};
