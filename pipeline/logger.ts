import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/** Keys whose values are credentials wherever they appear (compared without case: headers come both ways). */
const SECRET_KEYS = new Set([
  'authorization',
  'proxy-authorization',
  'x-api-token',
  'apitoken',
  'token',
  'password',
  'cookie',
  'set-cookie',
]);
const CENSOR = '[redacted]';
/** Deeper than any log object of ours; a got error's request options sit about four levels down. */
const MAX_DEPTH = 10;

/**
 * A copy of a log object that is safe to write: every value under a secret key is `[redacted]`, at any
 * depth. Errors become plain objects first (type, message, stack, their own fields, their cause), and
 * objects with `toJSON` are read through it, so the headers inside a got error's request options (an
 * `Options` instance) are reached and censored like any other: a list of fixed paths would miss the next
 * place an error carries them.
 */
const scrub = (value: unknown, ancestors: object[] = []): unknown => {
  if (value === null || typeof value !== 'object') return value;
  if (ancestors.includes(value)) return '[circular]';
  if (ancestors.length >= MAX_DEPTH) return '[too deep]';
  const inner = [...ancestors, value];
  if (Array.isArray(value)) return value.map((item) => scrub(item, inner));
  if (value instanceof Error) {
    const { message, stack, cause } = value;
    // Own fields first (got's `code`, `options`...), then what every error has.
    const fields: Record<string, unknown> = { ...value, type: value.constructor.name, message, stack };
    if (cause !== undefined) fields.cause = cause;
    return scrubEntries(fields, inner);
  }
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') {
    const json: unknown = toJSON.call(value);
    return json === value ? scrubEntries(value, inner) : scrub(json, inner);
  }
  return scrubEntries(value, inner);
};

const scrubEntries = (object: object, ancestors: object[]): Record<string, unknown> =>
  Object.fromEntries(
    Object.entries(object).map(([key, field]) => {
      const secret = SECRET_KEYS.has(key.toLowerCase()) && field !== undefined && field !== '';
      return [key, secret ? CENSOR : scrub(field, ancestors)];
    }),
  );

export interface LoggerOptions {
  readonly level?: string;
  readonly name?: string;
  readonly pretty?: boolean;
  /** Where JSON lines go instead of stderr (tests read them back). */
  readonly destination?: DestinationStream;
}

/**
 * Structured logs on stderr (stdout is for command output): JSON lines, or pretty ones on a terminal.
 * Credentials never reach a log line: they travel as `Secret` values, which print as `[redacted]`, and
 * every log object is scrubbed of values under credential keys (`authorization`, `x-api-token`,
 * `apiToken`, `token`, `password`, cookies) at any depth, errors and their request options included.
 */
export const createLogger = ({
  level = process.env.LOG_LEVEL ?? 'info',
  name = 'qualtrics-automations',
  pretty = process.stderr.isTTY === true,
  destination,
}: LoggerOptions = {}): Logger =>
  pino(
    {
      name,
      level,
      formatters: { log: (object) => scrub(object) as Record<string, unknown> },
      // The scrubbed copy already holds errors as plain objects; pino's own error serializer would
      // rename their type to "Object".
      serializers: { err: (value: unknown) => value },
    },
    // On a terminal, readable lines; anywhere else (a file, a collector), one JSON object per line.
    destination ??
      (pretty
        ? pino.transport({
            target: 'pino-pretty',
            options: { destination: 2, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' },
          })
        : pino.destination(2)),
  );

/** A logger that writes nothing: for tests and commands whose output is their report. */
export const silentLogger = (): Logger => pino({ level: 'silent' });
