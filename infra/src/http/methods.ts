import type { Express, RequestHandler, Response } from 'express';

/** Express 5's router layers, as far as this file reads them. */
type Layer = {
  route?: { methods: Record<string, boolean> };
  handle?: { stack?: Layer[] };
  path?: string;
  match(path: string): boolean;
};

/**
 * The methods the app's routes answer at `path`, upper-case and sorted
 * (HEAD wherever GET is, as express answers it), or null when a route there
 * takes every method (`app.all`). Routers mounted under a prefix are walked
 * with the prefix taken off, as express does.
 */
export const allowedMethods = (app: Express, path: string): string[] | null => {
  const methods = new Set<string>();
  let any = false;
  const walk = (stack: readonly Layer[], at: string) => {
    for (const layer of stack) {
      if (!layer.route && !layer.handle?.stack) continue;
      if (!layer.match(at)) continue;
      if (layer.route)
        for (const [method, on] of Object.entries(layer.route.methods)) {
          if (!on) continue;
          if (method === '_all') any = true;
          else methods.add(method.toUpperCase());
        }
      else {
        const prefix = layer.path && layer.path !== '/' ? layer.path : '';
        walk(layer.handle!.stack!, at.slice(prefix.length) || '/');
      }
    }
  };
  walk((app.router as unknown as { stack: readonly Layer[] }).stack, path);
  if (any) return null;
  if (methods.has('GET')) methods.add('HEAD');
  return [...methods].sort();
};

/** How the app writes a problem document (`sendProblem`). */
type SendProblem = (res: Response, status: number, code: string, title: string, instance: string) => void;

/**
 * The methods of a path, answered before any route or middleware that
 * follows runs:
 *
 * - RFC 9110 §15.5.6: a method the path does not take is 405 with `Allow`
 *   naming the ones it does, not 404 (the resource exists). Early, so that
 *   nothing meant for a real request (an `Idempotency-Key` claim, a body
 *   check) answers first.
 * - `OPTIONS` is 204 with `Allow` naming every method of the path: express
 *   answers OPTIONS itself from the first router that matches the path,
 *   which names only that router's methods when one path is served by two
 *   (a command router's PUT, a query router's GET).
 *
 * Routes are read at request time, so routes mounted after this still count.
 *
 * @example app.use(pathMethods(app, sendProblem))
 */
export const pathMethods =
  (app: Express, send: SendProblem): RequestHandler =>
  (req, res, next) => {
    const allow = allowedMethods(app, req.path);
    if (!allow?.length) return next();
    if (req.method === 'OPTIONS') {
      res.setHeader('Allow', [...allow, 'OPTIONS'].join(', '));
      res.status(204).end();
      return;
    }
    if (allow.includes(req.method)) return next();
    res.setHeader('Allow', allow.join(', '));
    send(res, 405, 'method_not_allowed', `${req.path} takes ${allow.join(', ')}.`, req.path);
  };
