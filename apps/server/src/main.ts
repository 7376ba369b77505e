import { ConfigError, loadConfig } from './config.ts';
import { startLectern } from './server.ts';

// The process entry point: configuration errors are told plainly and end
// the process before anything starts; signals stop it gracefully.
try {
  const lectern = await startLectern(loadConfig(process.env));
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    lectern.logger.info({ signal }, 'shutting down');
    lectern.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
} catch (error) {
  if (error instanceof ConfigError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
  }
  throw error;
}
