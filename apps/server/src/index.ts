export { startLectern, projections, type Lectern } from './server.ts';
export { loadConfig, ConfigError, type Config } from './config.ts';
