import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * JSON lines on stdout (or to `destination`: tests read the lines a flow
 * logs). Secrets never reach the log: the known places they could sit are
 * redacted whatever the caller passes.
 *
 * @example
 *   const lines: string[] = [];
 *   const logger = createLogger({ destination: { write: (line) => void lines.push(line) } });
 */
export const createLogger = (
  opts: { level?: string; name?: string; destination?: { write(line: string): void } } = {},
): Logger => {
  const options = {
    name: opts.name ?? 'lectern',
    level: opts.level ?? 'info',
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: ['req.headers.authorization', 'req.headers.cookie', '*.password', '*.token', '*.secret'],
      censor: '[redacted]',
    },
  };
  return opts.destination ? pino(options, opts.destination) : pino(options);
};
