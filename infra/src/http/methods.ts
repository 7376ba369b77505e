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
 * RFC 9110 §15.5.6: a method a resource does not take is 405 with `Allow`
 * naming the ones it does, not 404 (the resource exists). Mounted after every
 * route and before the 404 handler, so it runs only for requests no route
 * answered.
 *
 * @example app.use(methodNotAllowed(app, sendProblem))
 */
export const methodNotAllowed =
  (app: Express, send: SendProblem): RequestHandler =>
  (req, res, next) => {
    const allow = allowedMethods(app, req.path);
    if (!allow?.length || allow.includes(req.method)) return next();
    res.setHeader('Allow', allow.join(', '));
    send(res, 405, 'method_not_allowed', `${req.path} takes ${allow.join(', ')}.`, req.path);
  };

/**
 * `OPTIONS`: 204 with `Allow` naming every method of the path. Mounted before
 * the routes: express answers OPTIONS itself from the first router that
 * matches the path, which names only that router's methods when one path is
 * served by two (a command router's PUT, a query router's GET).
 *
 * @example app.use(answerOptions(app))
 */
export const answerOptions =
  (app: Express): RequestHandler =>
  (req, res, next) => {
    if (req.method !== 'OPTIONS') return next();
    const allow = allowedMethods(app, req.path);
    if (!allow?.length) return next();
    res.setHeader('Allow', [...allow, 'OPTIONS'].join(', '));
    res.status(204).end();
  };
