import { isLeft } from 'fp-ts/lib/Either.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Subject } from 'rxjs';
import { EmbeddedHistory } from '../adapters/embedded/history.js';
import { openStateStore } from '../adapters/embedded/state-store.js';
import type { InboundMessage } from '../adapters/inbound-message.js';
import { MemoryDedupeStore } from '../adapters/memory/dedupe-store.js';
import { MemoryDeliveryLog } from '../adapters/memory/delivery-log.js';
import { MemoryRateLimiter } from '../adapters/memory/rate-limiter.js';
import type { OperatorContext } from '../operators/model/define.js';
import { Ledger } from '../operators/model/ledger.js';
import { compareOrder } from '../operators/model/order.js';
import { fingerprint } from '../operators/model/payload.js';
import { Profile } from '../operators/model/profile.js';
import { AlertMonitor } from '../pipeline/alerts.js';
import { chainOf } from '../pipeline/chain.js';
import { parseConfig } from '../pipeline/config/load.js';
import { HistoryLine } from '../pipeline/history.js';
import { PipelineMetrics } from '../pipeline/metrics.js';
import { pauseWordsOf, watchFlow } from '../pipeline/run.js';
import { IdentityHasher } from '../adapters/redis/identity-hasher.js';
import { startPipeline } from '../pipeline/runner.js';
import { IntakeValve } from '../pipeline/valve.js';
import { CHECKOUT, updateOf } from './flows.js';

/** Which work: updates no mapped audience qualifies (settled as excluded), or every one qualified and sent. */
export type HotPathWork = 'not-qualified' | 'qualified';
export type HotPathTarget = 'contender' | 'baseline';

export interface HotPathResult {
  readonly updates: number;
  readonly seconds: number;
  /** Process CPU (user + system, every thread) over the run, in microseconds per update. */
  readonly cpuUsPerUpdate: number;
  readonly perSecond: number;
  /** The body the first update was sent with (undefined if none was): both targets must send the same bytes. */
  readonly firstBody: string | undefined;
}

/** The audience every update is `existing` in: mapped by the not-qualified flow, so it is read and excluded. */
const EXISTING = 'e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b';

const configOf = (work: HotPathWork) =>
  parseConfig(`
name: HotPath
source: { websocket: { url: "ws://127.0.0.1:1" } }
destination: { url: "https://x.qualtrics.com/e", username: u, apiToken: t, concurrency: 64 }
audiences: [{ id: "${work === 'qualified' ? CHECKOUT : EXISTING}" }]
identities: [{ source: Email, target: email }, { source: ECID, target: external_id }]
attributes: [{ source: person.name.firstName, target: firstName }, { source: loyalty.tier, target: loyaltyTier }]
`);

/** Messages are fed as a socket hands them over: a chunk per turn of the event loop. */
const CHUNK = 64;
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

const measure = async (updates: number, run: () => Promise<void>): Promise<Omit<HotPathResult, 'firstBody'>> => {
  const cpu = process.cpuUsage();
  const start = performance.now();
  await run();
  const seconds = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu);
  return { updates, seconds, cpuUsPerUpdate: (used.user + used.system) / updates, perSecond: updates / seconds };
};

/**
 * The pipeline as `run` has it for one flow without Redis: its chain (in-memory dedupe and delivery log,
 * a sender that answers 202 at once), and for the not-qualified work everything a running process
 * attaches to a flow's settlements (logger at info, history in the embedded store, metrics, alerts).
 */
const contender = async (work: HotPathWork, messages: readonly Buffer[]): Promise<HotPathResult> => {
  const flow = configOf(work).flows[0]!;
  const ledger = new Ledger();
  const valve = new IntakeValve();
  let firstBody: string | undefined;
  const context: OperatorContext = {
    dedupeStore: new MemoryDedupeStore({ maxEntries: messages.length + 1 }),
    deliveryLog: new MemoryDeliveryLog({ compare: compareOrder, maxEntries: messages.length + 1 }),
    rateLimiter: new MemoryRateLimiter({ requests: 1_000_000_000, perSeconds: 1 }),
    sender: {
      send: (body) => {
        firstBody ??= body;
        return [{ status: 202, body: '' }];
      },
    },
    deadLetters: { add: () => {} },
    valve,
  };
  const state = openStateStore(mkdtempSync(join(tmpdir(), 'qa-bench-hot-path-')));
  const historyWrites: Array<{ settled(): Promise<void> }> = [];
  const metrics = new PipelineMetrics();
  const alerts = new AlertMonitor(flow.alerts, flow.name, ledger, valve, () => {});
  if (work === 'not-qualified') {
    const logger = pino({ level: 'info' }, pino.destination({ dest: '/dev/null', sync: false }));
    const history = new EmbeddedHistory<HistoryLine>(state, { size: flow.history.size, isEntry: HistoryLine.is });
    // As run names each entry's person: by HMAC under the deployment's key.
    const hasher = new IdentityHasher({ secret: 'bench-identity-hash-key-of-32-bytes!' });
    watchFlow(ledger, { history, valve }, logger, historyWrites, pauseWordsOf(configOf(work)), (key) =>
      hasher.hash(key),
    );
    metrics.forFlow(flow.name).watch(ledger, valve);
  }
  const source = new Subject<InboundMessage>();
  const pipeline = startPipeline({ sourceName: 'websocket', source, chain: chainOf(flow), context, ledger });
  const result = await measure(messages.length, async () => {
    for (let at = 0; at < messages.length; at += CHUNK) {
      for (const data of messages.slice(at, at + CHUNK)) source.next({ data });
      await turn();
    }
    source.complete();
    await pipeline.done;
    await Promise.all(historyWrites.map((recorder) => recorder.settled()));
  });
  const counts = ledger.counts();
  const expected = work === 'qualified' ? counts.delivered : (counts.excluded['not-qualified'] ?? 0);
  if (expected !== messages.length) throw new Error(`contender settled ${JSON.stringify(counts)}`);
  metrics.stop();
  alerts.stop();
  await state.close();
  return { ...result, firstBody };
};

/**
 * The least a program doing the same work must do, written by hand with the same libraries: parse, the
 * same io-ts profile codec, the qualify check; for qualified updates also the payload (memberships,
 * identity, attributes), its fingerprint (the dedupe key) looked up and kept in a Set as an in-memory
 * dedupe, and the JSON body a POST would carry.
 */
const baseline = async (work: HotPathWork, messages: readonly Buffer[]): Promise<HotPathResult> => {
  const audience = work === 'qualified' ? CHECKOUT : EXISTING;
  const statuses = new Set(['realized', 'exited']);
  let excluded = 0;
  let bodies = 0;
  let firstBody: string | undefined;
  const sent = new Set<string>();
  const result = await measure(messages.length, async () => {
    for (let at = 0; at < messages.length; at += CHUNK) {
      for (const data of messages.slice(at, at + CHUNK)) {
        const decoded = Profile.decode(JSON.parse(data.toString('utf8')));
        if (isLeft(decoded)) throw new Error('baseline: not a profile');
        const profile = decoded.right;
        const membership = profile.segmentMembership?.ups?.[audience];
        if (!membership || !statuses.has(membership.status)) {
          excluded += 1;
          continue;
        }
        const person = profile as { person?: { name?: { firstName?: string } }; loyalty?: { tier?: string } };
        const email = profile.identityMap?.Email?.[0]?.id;
        const ecid = profile.identityMap?.ECID?.[0]?.id;
        if (email === undefined || ecid === undefined) throw new Error('baseline: no email or ECID');
        // As the contender sends it: every mapped identity under its namespace, the attributes first.
        const payload = {
          firstName: person.person?.name?.firstName ?? null,
          loyaltyTier: person.loyalty?.tier ?? null,
          identityMap: { Email: [{ id: email }], ECID: [{ id: ecid }] },
          segmentMembership: {
            ups: {
              [audience]: { lastQualificationTime: membership.lastQualificationTime!, status: membership.status },
            },
          },
        };
        const key = `email:${email.toLowerCase()}:${fingerprint(payload)}`;
        if (sent.has(key)) continue;
        sent.add(key);
        // The body a POST would carry.
        const body = JSON.stringify(payload);
        firstBody ??= body;
        bodies += body.length;
      }
      await turn();
    }
  });
  if (excluded + sent.size !== messages.length || (sent.size > 0 && bodies === 0))
    throw new Error('baseline lost updates');
  return { ...result, firstBody };
};

/** One run of one contender on `updates` fresh messages (each a different person). */
export const runHotPath = (work: HotPathWork, target: HotPathTarget, updates: number): Promise<HotPathResult> => {
  const messages = Array.from({ length: updates }, (_, n) => Buffer.from(updateOf(n)));
  return target === 'contender' ? contender(work, messages) : baseline(work, messages);
};
