import { expect } from 'chai';
import { parseConfig } from '../../../pipeline/config/load.js';
import type { ConsoleModel } from '../../../pipeline/console/console-flows.js';
import { summaryOf } from '../../../pipeline/console/console-data.js';
import { MinuteCounts } from '../../../pipeline/console/minute-counts.js';
import { configPage } from '../../../pipeline/console/pages.js';
import { Ledger } from '../../../operators/model/ledger.js';
import { delivered } from '../../../operators/model/outcome.js';
import { IntakeValve } from '../../../pipeline/valve.js';
import type { NonEmptyString } from '../../../operators/model/codecs.js';

const viewer = {
  caller: { principal: { name: 'ada' as NonEmptyString, roles: new Set(['view'] as const) }, csrf: undefined },
  open: false,
};

describe('console: the Config page shows no secret', () => {
  it('redacts tokens, the alert webhook, the credentials and query of every URL, and plug-in options', () => {
    const config = parseConfig(
      `
name: Secrets
source: { websocket: { url: "wss://feed.example/stream?token=WS-QUERY-SECRET" } }
redis: { url: "redis://user:REDIS-PASSWORD-SECRET@redis.example:6379/0" }
journal: { stream: j }
destination: { url: "https://x.qualtrics.com/e/1?key=DEST-QUERY-SECRET", apiToken: API-TOKEN-SECRET, auth: header }
audiences: [{ id: a1 }]
identities: [{ source: Email, target: email }]
alerts: { webhook: "https://hooks.example/services/WEBHOOK-PATH-SECRET" }
operators: [{ use: ./plugin.js, with: { apiKey: PLUGIN-OPTION-SECRET, nested: { list: [PLUGIN-LIST-SECRET] } } }]
`,
      {},
    );
    const body = configPage(viewer, config);
    for (const secret of [
      'WS-QUERY-SECRET',
      'REDIS-PASSWORD-SECRET',
      'DEST-QUERY-SECRET',
      'API-TOKEN-SECRET',
      'WEBHOOK-PATH-SECRET',
      'hooks.example',
      'PLUGIN-OPTION-SECRET',
      'PLUGIN-LIST-SECRET',
    ])
      expect(body, secret).to.not.include(secret);
    // What is not secret still shows: hosts and paths, the option names, the plug-in.
    expect(body).to.include('wss://feed.example/stream?[redacted]');
    expect(body).to.include('redis://[redacted]@redis.example:6379/0');
    expect(body).to.include('&quot;apiKey&quot;: &quot;[redacted]&quot;');
    expect(body).to.include('./plugin.js');
  });
});

describe('console: rate-limit use of a group', () => {
  it('sums every flow of the rate-limit group over a rolling 60 s', () => {
    const config = parseConfig(
      `
name: Group
source: { websocket: { url: "ws://127.0.0.1:1" } }
flows:
  - { name: a, destination: { url: "https://x.qualtrics.com/e/1", apiToken: t, auth: header }, audiences: [{ id: a1 }], identities: [{ source: Email, target: email }] }
  - { name: b, destination: { url: "https://x.qualtrics.com/e/2", apiToken: t, auth: header }, audiences: [{ id: a2 }], identities: [{ source: Email, target: email }] }
  - { name: c, destination: { url: "https://y.qualtrics.com/e/3", apiToken: t, auth: header }, audiences: [{ id: a3 }], identities: [{ source: Email, target: email }] }
`,
      {},
    );
    // Half a minute into a calendar minute: a rolling window reaches back into the minute before.
    let now = Date.UTC(2026, 0, 1, 10, 0, 40);
    const flows = config.flows.map((flow) => {
      const ledger = new Ledger();
      const minutes = new MinuteCounts(() => now);
      minutes.watch(ledger);
      return { flow, ledger, minutes, core: { valve: new IntakeValve() }, alerts: undefined, recentAlerts: [] };
    });
    const model = { config, flows } as unknown as ConsoleModel;
    const send = (flow: { ledger: Ledger }, attempts: number) => {
      flow.ledger.receive();
      flow.ledger.record({ outcome: delivered(202, attempts), origin: { source: 't', position: '1' }, at: now });
    };
    send(flows[0]!, 2);
    now += 30_000; // 10:01:10, another calendar minute
    send(flows[1]!, 3);
    send(flows[2]!, 7);
    const used = () => config.flows.map((flow) => summaryOf(model, flow).rate.used);
    // a and b share x.qualtrics.com's quota: both count both; c is its own group.
    expect(used()).to.deep.equal([5, 5, 7]);
    now += 40_000; // a's requests are more than 60 s old
    expect(used()).to.deep.equal([3, 3, 7]);
    expect(summaryOf(model, config.flows[0]!).rate.group).to.equal('x.qualtrics.com');
  });
});
