import { isLeft } from 'fp-ts/lib/Either.js';
import got from 'got';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connectRedis, deleteKeys, type Redis } from '../adapters/redis/connection.js';
import { fingerprint } from '../operators/model/payload.js';
import { Profile } from '../operators/model/profile.js';
import { chainOf } from '../pipeline/chain.js';
import { parseConfig } from '../pipeline/config/load.js';
import { silentLogger } from '../pipeline/logger.js';
import { startReplay } from '../pipeline/replay.js';
import { CHECKOUT, updateOf } from './flows.js';
import { commandsNaming } from './redis-commands.js';

export type ReplayTarget = 'contender' | 'baseline';

export interface ReplayResult {
  readonly entries: number;
  readonly seconds: number;
  readonly perSecond: number;
  /** Requests the endpoint received in the timed run: the entries not delivered before. */
  readonly sent: number;
  /** Redis commands naming this run's keys per entry, in the timed run (a Lua script counts as one). */
  readonly commandsPerEntry: number;
  /** The same for the pass that delivered the first `delivered` share: commands per delivered update. */
  readonly commandsPerDelivered: number;
  /** The body the stream's first entry was sent with: both targets must send the same bytes. */
  readonly firstEntryBody: string | undefined;
}

/** Who the stream's first entry is about (`updateOf(0)`): its body is the one compared. */
const FIRST_ENTRY_EMAIL = '"person0@example.com"';

interface Endpoint {
  readonly server: Server;
  readonly url: string;
  requests(): number;
  /** The first entry's body, once it came; read only while `watching` (not in the timed replay). */
  readonly seen: { watching: boolean; firstEntryBody?: string };
}

const endpoint = async (): Promise<Endpoint> => {
  let requests = 0;
  const seen: Endpoint['seen'] = { watching: false };
  const server = createServer((request, response) => {
    // Bodies are read only while watching: the timed replay's requests cost the endpoint what they did.
    const chunks: Buffer[] | undefined = seen.watching ? [] : undefined;
    if (chunks) request.on('data', (chunk: Buffer) => chunks.push(chunk));
    else request.resume();
    request.on('end', () => {
      requests += 1;
      const body = chunks && Buffer.concat(chunks).toString('utf8');
      if (body?.includes(FIRST_ENTRY_EMAIL)) seen.firstEntryBody = body;
      response.writeHead(202, { 'content-length': '0' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/event`;
  return { server, url, requests: () => requests, seen };
};

/** POSTs in flight at once, for both: the contender's `destination.concurrency`, the baseline's own pool. */
const CONCURRENCY = 64;

const configOf = (url: string, redisUrl: string, prefix: string) =>
  parseConfig(`
name: ReplayBench
source: { redisStream: { stream: unused, group: unused } }
destination:
  url: ${url}
  apiToken: bench-token
  auth: header
  allowAnyHost: true
  rateLimit: { requests: 1000000, perSeconds: 1 }
  concurrency: ${CONCURRENCY}
pipeline: { maxInFlight: 2000 }
audiences: [{ id: "${CHECKOUT}" }]
identities: [{ source: Email, target: email }]
attributes: [{ source: person.name.firstName, target: firstName }]
redis: { url: "${redisUrl}", prefix: "${prefix}" }
`);

const fill = async (redis: Redis, stream: string, entries: number): Promise<string[]> => {
  const ids: string[] = [];
  for (let at = 0; at < entries; at += 5000) {
    const batch = redis.pipeline();
    for (let n = at; n < Math.min(entries, at + 5000); n++) batch.xadd(stream, '*', 'profile', updateOf(n));
    for (const [error, id] of (await batch.exec())!) {
      if (error) throw error;
      ids.push(id as string);
    }
  }
  return ids;
};

/** `qualtrics-automations replay`'s own code, in this process: the range through the flow's chain. */
const replayThrough = async (url: string, redisUrl: string, prefix: string, stream: string, to: string) => {
  const config = configOf(url, redisUrl, prefix);
  const flow = config.flows[0]!;
  const range = { stream, from: '-', to, field: 'profile' };
  const replay = await startReplay(config, [{ flow, chain: chainOf(flow) }], range, silentLogger());
  return (await replay.done).counts;
};

/**
 * The least a replay doing the same must do, by hand: XRANGE pages of 1,000; each entry parsed, decoded
 * with the same codec, qualified, mapped and fingerprinted; one pipelined round of GETs per page for the
 * dedupe marks; what is not marked POSTed with got (`CONCURRENCY` at once, as the contender) and then marked.
 */
const handReplay = async (redis: Redis, prefix: string, stream: string, to: string, url: string): Promise<number> => {
  const client = got.extend({ retry: { limit: 0 }, headers: { 'x-api-token': 'bench-token' } });
  let read = 0;
  let start = '-';
  for (;;) {
    const page = (await redis.xrange(stream, start, to, 'COUNT', 1000)) as Array<[string, string[]]>;
    const marks: Array<{ key: string; body: string }> = [];
    for (const [, fields] of page) {
      const decoded = Profile.decode(JSON.parse(fields[1]!));
      if (isLeft(decoded)) throw new Error('baseline: not a profile');
      const profile = decoded.right as Profile & { person?: { name?: { firstName?: string } } };
      const membership = profile.segmentMembership?.ups?.[CHECKOUT];
      const email = profile.identityMap?.Email?.[0]?.id;
      if (membership?.status !== 'realized' || email === undefined) continue;
      const payload = {
        firstName: profile.person?.name?.firstName ?? null,
        identityMap: { Email: [{ id: email }] },
        segmentMembership: {
          ups: { [CHECKOUT]: { lastQualificationTime: membership.lastQualificationTime!, status: membership.status } },
        },
      };
      marks.push({
        key: `${prefix}:sent:${email.toLowerCase()}:${fingerprint(payload)}`,
        body: JSON.stringify(payload),
      });
    }
    const seen = marks.length > 0 ? await redis.mget(...marks.map((m) => m.key)) : [];
    const unsent = marks.filter((_, i) => seen[i] === null);
    // At most CONCURRENCY at once, as the contender's `concurrency`: a page's thousand POSTs at once
    // open a thousand sockets, which brought the baseline down to about the contender at 20,000 entries.
    let next = 0;
    const poster = async (): Promise<void> => {
      for (let m = unsent[next++]; m; m = unsent[next++])
        await client.post(url, { body: m.body, headers: { 'content-type': 'application/json' } });
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, unsent.length) }, poster));
    if (unsent.length > 0) await redis.mset(...unsent.flatMap((m) => [m.key, 'committed']));
    read += page.length;
    if (page.length < 1000) return read;
    start = `(${page[page.length - 1]![0]}`;
  }
};

/**
 * One run: `entries` updates in a fresh stream, of which the first `deliveredShare` are delivered first
 * (untimed, but its Redis commands counted), then the whole range replayed and timed: only the rest go out.
 */
export const runReplay = async (
  target: ReplayTarget,
  entries: number,
  deliveredShare: number,
  redisUrl: string,
): Promise<ReplayResult> => {
  const prefix = `qa-bench-replay:{${Date.now()}-${target}}`;
  const redis = connectRedis(redisUrl);
  const { server, url, requests, seen } = await endpoint();
  try {
    const stream = `${prefix}:updates`;
    const ids = await fill(redis, stream, entries);
    const before = Math.round(entries * deliveredShare);
    const run = (to: string) =>
      target === 'contender'
        ? replayThrough(url, redisUrl, prefix, stream, to)
        : handReplay(redis, prefix, stream, to, url);
    // Counted with MONITOR, which slows Redis: the delivering pass is not timed, the replay is timed and
    // then counted on a copy of its marks (a second replay would find everything delivered).
    seen.watching = true;
    const delivering = await commandsNaming(redis, prefix, () => run(ids[before - 1]!));
    seen.watching = false;
    const commandsPerDelivered = delivering.length / before;
    const sentBefore = requests();
    const startedAt = performance.now();
    await run('+');
    const seconds = (performance.now() - startedAt) / 1000;
    const sent = requests() - sentBefore;
    const replaying = await commandsNaming(redis, prefix, () => run('+'));
    const commandsPerEntry = replaying.length / entries;
    if (sent !== entries - before) throw new Error(`${target}: sent ${sent}, expected ${entries - before}`);
    const { firstEntryBody } = seen;
    return {
      entries,
      seconds,
      perSecond: entries / seconds,
      sent,
      commandsPerEntry,
      commandsPerDelivered,
      firstEntryBody,
    };
  } finally {
    server.close();
    await deleteKeys(redis, prefix);
    await redis.quit();
  }
};
