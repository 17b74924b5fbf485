import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { isLeft } from 'fp-ts/lib/Either.js';
import got from 'got';
import { WebSocket } from 'ws';
import { connectRedis } from '../adapters/redis/connection.js';
import { Profile } from '../operators/model/profile.js';

/**
 * The end-to-end benchmark's baseline, run as its own process as the contender is: the least a program
 * doing the same work must do, by hand, with the same libraries. It reads the contender's own config
 * file (JSON) and takes from it what it needs. Per update: read it from a WebSocket (ws client) or a
 * Redis stream (XREADGROUP in a consumer group, XACK once settled), JSON.parse, the same io-ts
 * `Profile` codec, the qualify check of the mapped audiences, the mapping (attributes by dotted path,
 * identities, memberships; the body in the contender's key order), dedupe on identity + SHA-256 of the
 * body (a `Set`, or with Redis one `SET NX EX` under its own prefix, deleted again if the POST fails),
 * and one got POST (one `got.extend` instance, no retries, Node's global keep-alive agent, as the
 * contender's sender). At most `destination.concurrency` POSTs in flight; at most
 * `pipeline.maxInFlight` updates held, then the socket is paused (or the stream not read) until half
 * have settled. The rate limit paces sends evenly, one timer per send that has to wait.
 *
 * Not done (the contender does): retries, dead letters, per-person order, the delivery log (stale
 * updates), consent, history, metrics, alerts, hashed identities in key names, logs.
 */
interface BenchConfig {
  readonly name: string;
  readonly source: {
    readonly websocket?: { readonly url: string };
    readonly redisStream?: { readonly stream: string; readonly group: string; readonly startId?: string };
  };
  readonly destination: {
    readonly url: string;
    readonly apiToken: string;
    readonly concurrency: number;
    readonly rateLimit: { readonly requests: number; readonly perSeconds: number };
  };
  readonly pipeline: { readonly maxInFlight: number };
  readonly audiences: ReadonlyArray<{ readonly id: string }>;
  readonly identities: ReadonlyArray<{ readonly source: string; readonly target: string }>;
  readonly attributes: ReadonlyArray<{ readonly source: string; readonly target: string }>;
  readonly redis?: { readonly url: string; readonly prefix: string };
}

const config = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as BenchConfig;
const { destination, audiences, identities, attributes } = config;
const maxInFlight = config.pipeline.maxInFlight;
const STATUSES = new Set(['realized', 'exited']);
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const TTL_SECONDS = 86_400;

const client = got.extend({
  headers: { 'content-type': 'application/json', 'user-agent': 'baseline', 'x-api-token': destination.apiToken },
  throwHttpErrors: false,
  retry: { limit: 0 },
  followRedirect: false,
  decompress: false,
  timeout: { request: 10_000 },
});
const redis = config.redis ? connectRedis(config.redis.url, `qa-bench-baseline:${config.name}`) : undefined;
const sentKey = (key: string): string => `${config.redis!.prefix}:sent:${key}`;

// Pacing: at most `requests` per `perSeconds`, evenly spaced; a send waits (one timer) for its slot. The
// window has the contender's margin (2 %, at least 50 ms: adapters/rate-limit-plan.ts), because the
// destination counts arrivals, which jitter: without it, the endpoint sees 51 in a second at 50 a second.
const windowMs = destination.rateLimit.perSeconds * 1000;
const spacingMs = (windowMs + Math.max(50, Math.ceil(windowMs * 0.02))) / destination.rateLimit.requests;
let nextSlot = 0;
const slot = (): Promise<void> | undefined => {
  const now = performance.now();
  const at = Math.max(now, nextSlot);
  nextSlot = at + spacingMs;
  return at - now >= 1 ? new Promise((resolve) => setTimeout(resolve, at - now)) : undefined;
};

// Backpressure: updates held (read, not yet settled); the intake stops at maxInFlight, resumes at half.
let inFlight = 0;
let pause: () => void = () => {};
let resume: () => void = () => {};
const settle = (done: () => void): void => {
  done();
  inFlight -= 1;
  if (inFlight === Math.floor(maxInFlight / 2)) resume();
};

interface Job {
  readonly body: string;
  readonly key: string;
  readonly done: () => void;
}
const queue: Job[] = [];
let sending = 0;
const seen = new Set<string>();

const worker = async (): Promise<void> => {
  sending += 1;
  for (let job = queue.shift(); job; job = queue.shift()) {
    await slot();
    let ok = false;
    try {
      const response = await client.post(destination.url, { body: job.body });
      ok = response.statusCode >= 200 && response.statusCode < 300;
    } catch {}
    if (!ok) {
      // Not accepted: the mark goes, so a later update sends it (the contender retries; this does not).
      if (redis) await redis.del(sentKey(job.key));
      else seen.delete(job.key);
    }
    settle(job.done);
  }
  sending -= 1;
};

const enqueue = (job: Job): void => {
  queue.push(job);
  if (sending < destination.concurrency) void worker();
};

/** A dotted path of the profile (`person.name.firstName`); undefined when a step is missing. */
const read = (from: unknown, path: readonly string[]): unknown => {
  let at = from;
  for (const step of path) {
    if (typeof at !== 'object' || at === null) return undefined;
    at = (at as Record<string, unknown>)[step];
  }
  return at;
};
const write = (to: Record<string, unknown>, path: readonly string[], value: unknown): void => {
  let at = to;
  for (const step of path.slice(0, -1)) at = (at[step] ??= {}) as Record<string, unknown>;
  at[path[path.length - 1]!] = value;
};
const attributePaths = attributes.map((a) => ({ source: a.source.split('.'), target: a.target.split('.') }));

/** What is to be sent for one update: its body and dedupe key; undefined if nothing (not a profile, not qualified). */
const mapped = (text: string): { body: string; key: string } | undefined => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  const decoded = Profile.decode(parsed);
  if (isLeft(decoded)) return undefined;
  const profile = decoded.right;
  const ups: Record<string, { lastQualificationTime?: string; status: string }> = {};
  let qualified = false;
  for (const { id } of audiences) {
    const membership = profile.segmentMembership?.ups?.[id];
    if (!membership || !STATUSES.has(membership.status)) continue;
    ups[id] =
      membership.lastQualificationTime === undefined
        ? { status: membership.status }
        : { lastQualificationTime: membership.lastQualificationTime, status: membership.status };
    qualified = true;
  }
  if (!qualified) return undefined;
  const identityMap: Record<string, Array<{ id: string }>> = {};
  let identity: string | undefined;
  for (const { source, target } of identities) {
    const ids = (profile.identityMap?.[source] ?? [])
      .map((entry) => entry.id)
      .filter((id) => target !== 'email' || EMAIL.test(id));
    if (ids.length === 0) continue;
    identityMap[source] = ids.map((id) => ({ id }));
    identity ??= `${target}:${target === 'email' ? ids[0]!.toLowerCase() : ids[0]}`;
  }
  if (identity === undefined) return undefined;
  const payload: Record<string, unknown> = {};
  for (const { source, target } of attributePaths) {
    const value = read(profile, source);
    if (value !== undefined) write(payload, target, value);
  }
  payload.identityMap = identityMap;
  payload.segmentMembership = { ups };
  const body = JSON.stringify(payload);
  return { body, key: `${identity}:${createHash('sha256').update(body).digest('base64url')}` };
};

/** One update: mapped, deduped and queued for its POST, or settled at once (nothing to send, a duplicate). */
const take = (text: string, done: () => void): void => {
  inFlight += 1;
  if (inFlight === maxInFlight) pause();
  const update = mapped(text);
  if (!update) settle(done);
  else if (!redis) {
    if (seen.has(update.key)) settle(done);
    else {
      seen.add(update.key);
      enqueue({ ...update, done });
    }
  } else
    redis.set(sentKey(update.key), '1', 'EX', TTL_SECONDS, 'NX').then(
      (answer) => (answer === null ? settle(done) : enqueue({ ...update, done })),
      () => settle(done),
    );
};

const fromWebSocket = (url: string): void => {
  const socket = new WebSocket(url);
  pause = () => socket.pause();
  resume = () => socket.resume();
  socket.on('message', (data: Buffer) => take(data.toString('utf8'), () => {}));
  socket.on('close', () => process.exit(0));
};

const fromStream = async (stream: string, group: string, startId: string): Promise<void> => {
  const consumer = `${hostname()}-${process.pid}`;
  await redis!.xgroup('CREATE', stream, group, startId, 'MKSTREAM').catch((error: Error) => {
    if (!error.message.includes('BUSYGROUP')) throw error;
  });
  // Reads block on a connection of their own; acknowledgements go on the autopipelined one.
  const reader = redis!.duplicate();
  let resumed: (() => void) | undefined;
  resume = () => resumed?.();
  for (;;) {
    if (inFlight >= maxInFlight) await new Promise<void>((resolve) => (resumed = resolve));
    const answer = (await reader.xreadgroup(
      'GROUP',
      group,
      consumer,
      'COUNT',
      maxInFlight - inFlight,
      'BLOCK',
      1000,
      'STREAMS',
      stream,
      '>',
    )) as Array<[string, Array<[string, string[]]>]> | null;
    for (const [id, fields] of answer?.[0]?.[1] ?? [])
      take(fields[fields.indexOf('profile') + 1] ?? '', () => void redis!.xack(stream, group, id));
  }
};

process.once('SIGTERM', () => process.exit(0));
const { websocket, redisStream } = config.source;
if (websocket) fromWebSocket(websocket.url);
else if (redisStream) await fromStream(redisStream.stream, redisStream.group, redisStream.startId ?? '$');
