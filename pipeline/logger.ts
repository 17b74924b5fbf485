import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Structured logs on stderr (stdout is for command output): JSON lines, or pretty ones on a terminal. Credentials never reach a log line:
 * they travel as `Secret` values, which print as `[redacted]`, and the usual header paths are redacted
 * as well in case an error object carries request options.
 */
export const createLogger = ({ level = process.env.LOG_LEVEL ?? 'info', name = 'qualtrics-automations', pretty = process.stderr.isTTY === true } = {}): Logger =>
  pino(
    {
      name,
      level,
      redact: {
        paths: ['*.headers.authorization', '*.headers["x-api-token"]', '*.apiToken', '*.token', 'headers.authorization', 'headers["x-api-token"]', 'apiToken', 'token'],
        censor: '[redacted]',
      },
    },
    // On a terminal, readable lines; anywhere else (a file, a collector), one JSON object per line.
    pretty ? pino.transport({ target: 'pino-pretty', options: { destination: 2, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } }) : pino.destination(2),
  );

/** A logger that writes nothing: for tests and commands whose output is their report. */
export const silentLogger = (): Logger => pino({ level: 'silent' });
