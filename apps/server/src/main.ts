import { ConfigError, loadConfig } from './config.ts';
import { DatabaseOwnedElsewhere } from './deployment.ts';
import { PortInUse } from './http-lifecycle.ts';
import { startLectern } from './server.ts';
import { startTracing } from './tracing.ts';

// The process entry point: configuration errors, a busy port and a database
// that belongs to another deployment are told in plain words and end the
// process (status 2) before anything runs; signals stop it gracefully.
// Tracing, where OTEL_EXPORTER_OTLP_ENDPOINT asks for it, starts first and
// stops last, so the spans of the start and of the drain are sent.
try {
  const config = loadConfig(process.env);
  const tracing = await startTracing(config.roles, process.env);
  const lectern = await startLectern(config);
  if (tracing) lectern.logger.info({ service: tracing.serviceName }, 'tracing on (OTLP over HTTP)');
  let stopping = false;
  const shutdown = (signal: string): void => {
    // A second Ctrl-C means "now": whoever presses it has seen the first one hang.
    if (stopping) {
      if (signal === 'SIGINT') process.exit(130);
      return;
    }
    stopping = true;
    lectern.logger.info({ signal }, 'shutting down');
    // The exporter's own timeout (10 s) bounds the flush when the collector is gone.
    const exit = (code: number) =>
      void (tracing?.stop().catch(() => {}) ?? Promise.resolve()).then(() => process.exit(code));
    lectern.stop().then(
      () => exit(0),
      () => exit(1),
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
