import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

/** Paths never logged in clear: tokens in commands, headers and config. */
export const REDACT_PATHS = [
  'token',
  '*.token',
  'cmd.token',
  'req.headers.authorization',
  'headers.authorization',
  'authorization',
  'jwtSecret',
  'config.jwtSecret',
  'secret',
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: undefined,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
