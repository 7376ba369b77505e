export { contentQueryRoutes, type ContentQueryDeps } from './routes.ts';
