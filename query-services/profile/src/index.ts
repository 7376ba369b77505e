export { profileQueryRoutes, type ProfileQueryDeps } from './routes.ts';
