export { profileCommandRoutes, experienceLevelId, type ProfileCommandDeps } from './routes.ts';
export { profileDecider } from './domain/profile.ts';
export { experienceLevelDecider } from './domain/experience-level.ts';
