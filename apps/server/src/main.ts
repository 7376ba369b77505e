import { ConfigError, loadConfig } from './config.ts';
import { DatabaseOwnedElsewhere } from './deployment.ts';
import { PortInUse } from './http-lifecycle.ts';
import { startLectern } from './server.ts';

// The process entry point: configuration errors, a busy port and a database
// that belongs to another deployment are told in plain words and end the
// process (status 2) before anything runs; signals stop it gracefully.
try {
  const lectern = await startLectern(loadConfig(process.env));
  let stopping = false;
  const shutdown = (signal: string): void => {
    // A second Ctrl-C means "now": whoever presses it has seen the first one hang.
    if (stopping) {
      if (signal === 'SIGINT') process.exit(130);
      return;
    }
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
  if (error instanceof ConfigError || error instanceof PortInUse || error instanceof DatabaseOwnedElsewhere) {
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
  }
  throw error;
}
