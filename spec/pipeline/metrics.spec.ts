import { expect } from 'chai';
import { Ledger } from '../../operators/model/ledger.js';
import { delivered, duplicate, excluded, failed, type Outcome } from '../../operators/model/outcome.js';
import { PipelineMetrics } from '../../pipeline/metrics.js';
import { IntakeValve } from '../../pipeline/valve.js';
import { sample } from '../helpers/metrics.js';

const settleOne = (ledger: Ledger, outcome: Outcome): void => {
  ledger.receive(1);
  ledger.record({ outcome, origin: { source: 'spec', position: '1' }, at: 0 });
};

describe('PipelineMetrics', () => {
  const PREFIX = 'qualtrics_automations_';

  it('counts outcomes in place and shows every one at each scrape, and what a side ledger counted after it stops', async () => {
    const metrics = new PipelineMetrics();
    const flow = metrics.forFlow('nps');
    const ledger = new Ledger();
    flow.watch(ledger, new IntakeValve());
    for (const outcome of [delivered(202, 1), duplicate(), excluded('not-qualified'), failed('http-400')])
      settleOne(ledger, outcome);
    ledger.receiveSettled({ outcome: excluded('not-qualified'), origin: { source: 'spec', position: '2' }, at: 0 });
    let text = await metrics.registry.metrics();
    expect(sample(text, `${PREFIX}profiles_received_total{flow="nps"}`)).to.equal(5);
    expect(sample(text, `${PREFIX}identities_activated_total`)).to.equal(1);
    expect(sample(text, `${PREFIX}duplicates_total`)).to.equal(1);
    expect(sample(text, `${PREFIX}identities_excluded_total{reason="not-qualified"}`)).to.equal(2);
    expect(sample(text, `${PREFIX}identities_failed_total{reason="http-400"}`)).to.equal(1);

    // Counted again after a scrape: added to, not counted twice.
    settleOne(ledger, delivered(202, 1));
    text = await metrics.registry.metrics();
    expect(sample(text, `${PREFIX}identities_activated_total`)).to.equal(2);
    expect(sample(text, `${PREFIX}profiles_received_total`)).to.equal(6);

    // A side ledger (a console redrive) counted until it stops: what it counted stays after.
    const side = new Ledger();
    const counting = flow.countOutcomes(side);
    settleOne(side, delivered(202, 1));
    counting.unsubscribe();
    settleOne(side, delivered(202, 1));
    text = await metrics.registry.metrics();
    expect(sample(text, `${PREFIX}identities_activated_total`)).to.equal(3);
    expect(sample(text, `${PREFIX}profiles_received_total`)).to.equal(7);
    metrics.stop();
  });
});
