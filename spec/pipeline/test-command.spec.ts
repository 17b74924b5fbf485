import { expect } from 'chai';
import { CliProcesses } from '../helpers/cli.js';

describe('declarative pipeline tests (qualtrics-automations test)', function () {
  this.timeout(30_000);
  const processes = new CliProcesses();
  afterEach(() => processes.killAll());
  const runCli = (args: readonly string[]) => processes.run(args);

  it('runs the example cases, all passing, with no network and no secrets set', async () => {
    const { code, stdout, stderr } = await runCli(['test', 'examples/config.test.yaml']);
    expect(stderr).to.equal('');
    expect(stdout).to.contain('✔ a consenting customer who completed checkout is sent with the mapped fields only');
    expect(stdout).to.contain('✔ a message that is not JSON is excluded, not fatal');
    expect(stdout.trimEnd().split('\n').at(-1)).to.equal('  4 passed, 0 failed');
    expect(code).to.equal(0);
  });

  it('reports failing cases with what was expected and what came, and exits 1', async () => {
    const { code, stdout } = await runCli([
      'test',
      'spec/fixtures/tests/failing.test.yaml',
      'examples/config.test.yaml',
    ]);
    expect(code).to.equal(1);
    expect(stdout).to.contain('    ✔ passes');
    expect(stdout).to.contain('    1) expects a payload but the profile is not qualified');
    expect(stdout).to.contain(
      '      expected payload {"anything":true}\n      got excluded not-qualified: mapped audience a1 is existing; only realized or exited is sent',
    );
    expect(stdout).to.contain(
      '      expected excluded not-qualified\n      got excluded missing-identity: the profile has no id in Email',
    );
    expect(stdout.trimEnd().split('\n').at(-1)).to.equal('  5 passed, 2 failed');
  });

  it('reports a malformed test file like a config error', async () => {
    const { code, stderr } = await runCli(['test', 'examples/config.yaml']);
    expect(code).to.equal(1);
    expect(stderr).to.contain('examples/config.yaml: ');
    expect(stderr).to.contain('cases: missing');
  });
});
