import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * JSON lines on stdout. Secrets never reach the log: the known places they
 * could sit are redacted whatever the caller passes.
 */
export const createLogger = (opts: { level?: string; name?: string } = {}): Logger =>
  pino({
    name: opts.name ?? 'lectern',
    level: opts.level ?? 'info',
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: ['req.headers.authorization', 'req.headers.cookie', '*.password', '*.token', '*.secret'],
      censor: '[redacted]',
    },
  });
