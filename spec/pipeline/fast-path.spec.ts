import { expect } from 'chai';
import { Subject } from 'rxjs';
import type { InboundMessage } from '../../adapters/inbound-message.js';
import { MemoryDedupeStore } from '../../adapters/memory/dedupe-store.js';
import { MemoryDeliveryLog } from '../../adapters/memory/delivery-log.js';
import { MemoryRateLimiter } from '../../adapters/memory/rate-limiter.js';
import type { OperatorContext } from '../../operators/model/define.js';
import type { Settlement } from '../../operators/model/ledger.js';
import { compareOrder } from '../../operators/model/order.js';
import { type ChainLink, chainOf, exclusionAtIntake } from '../../pipeline/chain.js';
import { parseConfig } from '../../pipeline/config/load.js';
import { surveyedChain, UnseenPaths } from '../../pipeline/governance/unseen-paths.js';
import { startPipeline } from '../../pipeline/runner.js';
import { IntakeValve } from '../../pipeline/valve.js';
import { CHECKOUT, updateOf } from '../../bench/flows.js';

/** Every update of `updateOf` is `existing` in this audience: mapped alone, it is not qualified. */
const EXISTING = 'e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b';

const flowMapping = (audience: string) =>
  parseConfig(`
name: FastPath
source: { websocket: { url: "ws://127.0.0.1:1" } }
destination: { url: "https://x.qualtrics.com/e", username: u, apiToken: t }
audiences: [{ id: "${audience}" }]
identities: [{ source: Email, target: email }]
attributes: [{ source: person.name.firstName, target: firstName }, { source: no.such.path, target: typo }]
`).flows[0]!;

const context = (): OperatorContext => ({
  dedupeStore: new MemoryDedupeStore(),
  deliveryLog: new MemoryDeliveryLog({ compare: compareOrder }),
  rateLimiter: new MemoryRateLimiter({ requests: 1_000_000, perSeconds: 1 }),
  sender: { send: () => [{ status: 202, body: '' }] },
  deadLetters: { add: () => {} },
  valve: new IntakeValve(),
});

/** Runs `messages` through `chain`; answers the settlements and how many times each message was acknowledged. */
const run = async (chain: readonly ChainLink[], messages: readonly unknown[]) => {
  const source = new Subject<InboundMessage>();
  const pipeline = startPipeline({ sourceName: 'websocket', source, chain, context: context() });
  const settlements: Settlement[] = [];
  pipeline.ledger.settlements$.subscribe((settlement) => settlements.push(settlement));
  const acks = messages.map(() => 0);
  for (const [index, data] of messages.entries()) {
    source.next({ data, position: `p${index}`, ack: () => (acks[index]! += 1) });
  }
  source.complete();
  const counts = await pipeline.done;
  return { settlements, acks, counts };
};

/** A link that passes everything on: a stand-in for a plug-in, which turns the fast path off. */
const passing = (name: string, plugin?: string): ChainLink => ({
  name,
  summary: 'passes everything on',
  ...(plugin === undefined ? {} : { plugin }),
  create: () => (source) => source,
});

describe('the fast path of a not-qualified update', () => {
  it('settles, counts and acknowledges it as the chain does, and lets the rest through the chain', async () => {
    const flow = flowMapping(EXISTING);
    const messages = [
      Buffer.from(updateOf(1)),
      Buffer.from('not json'),
      Buffer.from(`[${updateOf(2)}]`),
      updateOf(3), // a string: read by decode, as before
      Buffer.from(updateOf(4)),
    ];
    const fast = await run(chainOf(flow), messages);
    // The same chain with a plug-in after decode takes no fast path: the reference.
    const [decode, ...rest] = chainOf(flow);
    const slow = await run([decode!, passing('spy', 'spy.js'), ...rest], messages);
    expect(exclusionAtIntake(chainOf(flow))).to.be.a('function');
    expect(exclusionAtIntake([decode!, passing('spy', 'spy.js'), ...rest])).to.equal(undefined);
    const shown = (settlements: readonly Settlement[]) =>
      settlements
        .map(({ outcome, origin, identity, receivedAt, at }) => ({
          outcome,
          origin,
          identity,
          timed: typeof receivedAt === 'number' && at >= receivedAt,
        }))
        .sort((a, b) => a.origin.position.localeCompare(b.origin.position));
    expect(shown(fast.settlements)).to.deep.equal(shown(slow.settlements));
    expect(fast.counts).to.deep.equal(slow.counts);
    expect(fast.counts.excluded).to.deep.equal({ 'not-qualified': 4, 'invalid-json': 1 });
    expect(fast.acks).to.deep.equal([1, 1, 1, 1, 1]);
    expect(fast.settlements[0]!.outcome).to.deep.include({ kind: 'excluded', reason: 'not-qualified' });
    expect(JSON.stringify(fast.settlements[0]!.outcome)).to.contain(`${EXISTING} is existing`);
  });

  it('sends a qualified update through the whole chain', async () => {
    const { counts, acks } = await run(chainOf(flowMapping(CHECKOUT)), [Buffer.from(updateOf(1))]);
    expect(counts.delivered).to.equal(1);
    expect(acks).to.deep.equal([1]);
  });

  it("takes the unseen-paths survey's look at every profile it settles, and only once", async () => {
    const flow = flowMapping(EXISTING);
    const surveyOf = (size: number, reported: string[][]) =>
      new UnseenPaths(
        flow.attributes.map(({ source }) => source),
        (unseen) => reported.push([...unseen]),
        size,
      );
    const messages = [1, 2, 3, 4].map((n) => Buffer.from(updateOf(n)));
    // Four profiles seen once each: a survey of five has not finished (seen twice, it would have).
    const unfinished: string[][] = [];
    await run(surveyedChain(chainOf(flow), surveyOf(5, unfinished)), messages);
    expect(unfinished).to.deep.equal([]);
    const reported: string[][] = [];
    const chain = surveyedChain(chainOf(flow), surveyOf(4, reported));
    expect(exclusionAtIntake(chain)).to.be.a('function');
    await run(chain, messages);
    expect(reported).to.deep.equal([['no.such.path']]);
  });
});
