export { profileQueryRoutes, activeExperienceLevelCodes, type ProfileQueryDeps } from './routes.ts';
