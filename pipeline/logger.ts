import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Structured JSON logs on stderr (stdout is for command output). Credentials never reach a log line:
 * they travel as `Secret` values, which print as `[redacted]`, and the usual header paths are redacted
 * as well in case an error object carries request options.
 */
export const createLogger = ({ level = process.env.LOG_LEVEL ?? 'info', name = 'qualtrics-automations' } = {}): Logger =>
  pino(
    {
      name,
      level,
      redact: {
        paths: ['*.headers.authorization', '*.headers["x-api-token"]', '*.apiToken', 'headers.authorization', 'headers["x-api-token"]', 'apiToken'],
        censor: '[redacted]',
      },
    },
    pino.destination(2),
  );

/** A logger that writes nothing: for tests and commands whose output is their report. */
export const silentLogger = (): Logger => pino({ level: 'silent' });
