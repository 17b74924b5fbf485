const REDACTED = '[redacted]';

/** A URL shown without what may be a credential: its userinfo and its query (a `?token=`) are redacted. */
export const redactUrl = (text: string): string => {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return text;
  }
  if (url.host === '') return text;
  const who = url.username !== '' || url.password !== '' ? `${REDACTED}@` : '';
  const query = url.search !== '' ? `?${REDACTED}` : '';
  const hash = url.hash !== '' ? `#${REDACTED}` : '';
  return `${url.protocol}//${who}${url.host}${url.pathname}${query}${hash}`;
};

/** Every value in an object or list replaced by `[redacted]`; the keys and the shape stay. */
const redactAll = (value: unknown): unknown =>
  Array.isArray(value)
    ? value.map(redactAll)
    : value !== null && typeof value === 'object'
      ? Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, redactAll(inner)]))
      : REDACTED;

/** Keys whose whole value is a secret, wherever they are: an alert webhook URL carries its own credential. */
const SECRET_KEYS = new Set(['webhook']);

/**
 * The effective config as the Config page shows it: `Secret`s print `[redacted]` already; besides, a
 * webhook is a secret, every URL loses its userinfo and query (a Redis password, a `?token=`), and a
 * plug-in's `with` options (whatever a plug-in takes, maybe a key) show their keys only.
 */
export const redactConfig = (config: unknown): unknown => {
  /** `plugin`: the value is one entry of an `operators` list, whose `with` is the plug-in's options. */
  const walk = (value: unknown, plugin: boolean): unknown => {
    if (typeof value === 'string') return /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? redactUrl(value) : value;
    if (Array.isArray(value)) return value.map((item) => walk(item, false));
    if (value === null || typeof value !== 'object') return value;
    return Object.fromEntries(
      Object.entries(value).map(([key, inner]) => [
        key,
        SECRET_KEYS.has(key)
          ? REDACTED
          : plugin && key === 'with'
            ? redactAll(inner)
            : key === 'operators' && Array.isArray(inner)
              ? inner.map((entry) => walk(entry, true))
              : walk(inner, false),
      ]),
    );
  };
  // Through JSON first: Secrets become `[redacted]`, Sets and Maps what they print as.
  return walk(JSON.parse(JSON.stringify(config)) as unknown, false);
};
