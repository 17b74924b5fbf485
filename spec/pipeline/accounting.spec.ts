import { expect } from 'chai';
import fc from 'fast-check';
import { throwError, timer, map } from 'rxjs';
import { parseConfig } from '../../pipeline/config/load.js';
import { envelopeCount, sampleMessages } from '../../pipeline/demo/sample-updates.js';
import type { LedgerCounts } from '../../operators/model/ledger.js';
import { runOperators } from '../helpers/run-operators.js';

const config = parseConfig(
  `
name: Accounting
source: { websocket: { url: "ws://127.0.0.1:1" } }
destination: { url: "https://iad1.qualtrics.com/e", username: u, apiToken: t, retry: { maxAttempts: 3, baseMs: 1, maxMs: 4 } }
audiences: [{ id: a1 }, { id: a2 }]
identities: [{ source: Email, target: email }, { source: ECID, target: external_id }]
attributes: [{ source: person.name.firstName, target: firstName }, { source: notes, target: notes }]
`,
  {},
);

const sum = (counts: Readonly<Record<string, number>>): number => Object.values(counts).reduce((a, b) => a + b, 0);
const accountedFor = (c: LedgerCounts): number => c.delivered + c.duplicate + sum(c.excluded) + sum(c.failed);

/** Every kind of profile and message a feed may carry. */
const profileArb = fc.record({
  email: fc.constantFrom('ann@example.com', 'ben@example.com', 'b4c9a289323b21a01c3e940f150eb9b8c542587f1abfd8f0e1cc1ffc5e475514', 'not-an-email', undefined),
  ecid: fc.option(fc.constantFrom('e-1', 'e-2'), { nil: undefined }),
  audience: fc.constantFrom('a1', 'a2', 'unmapped'),
  status: fc.constantFrom('realized', 'exited', 'existing', 'weird'),
  firstName: fc.constantFrom('Ann', 'Ben', 'Chloé'),
  large: fc.boolean(),
});
type ProfileSpec = typeof profileArb extends fc.Arbitrary<infer T> ? T : never;

const toProfile = (p: ProfileSpec): object => ({
  person: { name: { firstName: p.firstName } },
  ...(p.large ? { notes: 'x'.repeat(101_000) } : {}),
  identityMap: { ...(p.email ? { Email: [{ id: p.email }] } : {}), ...(p.ecid ? { ECID: [{ id: p.ecid }] } : {}) },
  segmentMembership: { ups: { [p.audience]: { status: p.status, lastQualificationTime: '2026-01-01T00:00:00Z' } } },
});

const messageArb = fc.oneof(
  profileArb.map((p) => JSON.stringify(toProfile(p))),
  fc.array(profileArb, { minLength: 0, maxLength: 4 }).map((ps) => JSON.stringify(ps.map(toProfile))),
  fc.constantFrom('{"identityMap": {', 'null', '42', '"text"', '[1, {"identityMap": 3}]'),
  fc.string(),
);

describe('accounting: every received envelope ends in exactly one outcome', () => {
  it('adds up for the demo feed', async () => {
    const messages = sampleMessages();
    const { counts } = await runOperators(config, messages);
    expect(counts.received).to.equal(envelopeCount(messages));
    expect(accountedFor(counts)).to.equal(counts.received);
    expect(counts.inFlight).to.equal(0);
  });

  it('adds up for any mix of messages and destination answers (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(messageArb, { maxLength: 30 }), fc.array(fc.constantFrom(202, 200, 400, 401, 429, 500, 0)), async (messages, script) => {
        // The destination recovers in the end: a 401 holds an update (and the intake) until it does.
        const answers = [...script, 202];
        let call = 0;
        const answer = () => {
          const status = answers[call++ % answers.length]!;
          if (status === 0) return throwError(() => new Error('socket hang up'));
          return timer(call % 3).pipe(map(() => ({ status, body: '' })));
        };
        const { counts, settlements } = await runOperators(config, messages, answer);
        expect(counts.received).to.equal(envelopeCount(messages));
        expect(accountedFor(counts)).to.equal(counts.received);
        expect(settlements).to.have.length(counts.received);
        expect(counts.inFlight).to.equal(0);
      }),
      { numRuns: 60 },
    );
  });
});
