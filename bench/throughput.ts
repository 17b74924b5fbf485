import { performance } from 'node:perf_hooks';
import { from, lastValueFrom, defaultIfEmpty } from 'rxjs';
import { MemoryDedupeStore } from '../adapters/memory/dedupe-store.js';
import { MemoryDeliveryLog } from '../adapters/memory/delivery-log.js';
import { MemoryRateLimiter } from '../adapters/memory/rate-limiter.js';
import { Ledger } from '../operators/model/ledger.js';
import { compareOrder, positionCounter } from '../operators/model/order.js';
import { chainOf, compose } from '../pipeline/chain.js';
import { parseConfig } from '../pipeline/config/load.js';
import { envelopeOf } from '../pipeline/runner.js';
import { IntakeValve } from '../pipeline/valve.js';

export interface ThroughputResult {
  readonly updates: number;
  readonly seconds: number;
  readonly perSecond: number;
  readonly delivered: number;
}

/**
 * The operators alone, in one process: decode, qualify, identities, attributes, dedupe (in memory) and
 * emit to a destination that answers at once. What the pipeline's own code costs per update.
 */
export const runThroughput = async (updates: number): Promise<ThroughputResult> => {
  const config = parseConfig(`
name: Throughput
source: { websocket: { url: "ws://127.0.0.1:1" } }
destination: { url: "https://x.qualtrics.com/e", username: u, apiToken: t, concurrency: 64 }
audiences: [{ id: a1 }, { id: a2 }]
identities: [{ source: Email, target: email }, { source: ECID, target: external_id }]
attributes: [{ source: person.name.firstName, target: firstName }, { source: loyalty.tier, target: loyaltyTier }]
`);
  const ledger = new Ledger();
  const context = {
    dedupeStore: new MemoryDedupeStore({ maxEntries: updates + 1 }),
    deliveryLog: new MemoryDeliveryLog({ compare: compareOrder, maxEntries: updates + 1 }),
    rateLimiter: new MemoryRateLimiter({ requests: 1_000_000_000, perSeconds: 1 }),
    sender: { send: () => [{ status: 202, body: '' }] },
    deadLetters: { add: () => {} },
    valve: new IntakeValve(),
  };
  const messages = Array.from({ length: updates }, (_, n) =>
    JSON.stringify({
      person: { name: { firstName: `n${n}`, lastName: 'x' } },
      loyalty: { tier: 'gold' },
      identityMap: { Email: [{ id: `p${n}@example.com` }], ECID: [{ id: `${n}0000000000` }] },
      segmentMembership: {
        ups: {
          a1: { status: 'realized', lastQualificationTime: '2026-11-29T09:00:00Z' },
          other: { status: 'realized' },
        },
      },
    }),
  );
  const nextPosition = positionCounter();
  const start = performance.now();
  const envelopes = from(messages.map((data) => envelopeOf({ data }, ledger, 'bench', nextPosition)));
  await lastValueFrom(compose(envelopes, chainOf(config.flows[0]!), context).pipe(defaultIfEmpty(undefined)));
  const counts = await ledger.whenSettled();
  const seconds = (performance.now() - start) / 1000;
  return { updates, seconds, perSecond: updates / seconds, delivered: counts.delivered };
};
