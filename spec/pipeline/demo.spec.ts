import { expect } from 'chai';
import { runDemo } from '../../pipeline/demo/run-demo.js';

describe('demo (npm start)', () => {
  it('runs with no outside services, accounts for every update and exits 0', async () => {
    let report = '';
    const code = await runDemo((text) => (report += text));
    expect(code).to.equal(0);
    expect(report).to.match(/received {3}11/);
    expect(report).to.match(/delivered {2}4/);
    expect(report).to.match(/duplicate {2}1/);
    expect(report).to.contain('invalid-json 1, invalid-profile 1, missing-identity 1, not-qualified 2');
    expect(report).to.contain('payload-too-large 1');
    expect(report).to.contain('(every update accounted for)');
    expect(report.match(/run \d+ +Succeeded/g)).to.have.length(4);
  });
});
