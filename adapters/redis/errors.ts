/**
 * Which Redis errors are an outage (wait and try again) and which are a fault that waiting cannot mend.
 *
 * ioredis rejects with a `ReplyError` when the server answered with an error, and with other errors when
 * it could not get an answer at all (connection refused or closed, the retries per request used up).
 * Not getting an answer is an outage. Of the answers, only those that say "not now" are: a server still
 * loading its data, busy with a script, a replica promoted, a cluster failing over. Anything else (the
 * key holds another type, no permission, an unknown command) stays wrong however long one waits.
 */
const TRANSIENT_REPLIES = /^(LOADING|BUSY|TRYAGAIN|MASTERDOWN|CLUSTERDOWN|READONLY|NOREPLICAS)\b/;

/** Thrown when the server is too old for the stream sources: no wait mends it. */
export class RedisVersionError extends Error {
  override readonly name = 'RedisVersionError';
}

export const isRedisOutage = (error: unknown): boolean => {
  if (error instanceof RedisVersionError) return false;
  if (!(error instanceof Error) || error.name !== 'ReplyError') return true;
  return TRANSIENT_REPLIES.test(error.message);
};

/** The error as an `Error`, for events and logs. */
export const asError = (error: unknown): Error => (error instanceof Error ? error : new Error(String(error)));
