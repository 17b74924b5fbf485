import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WebSocket } from 'ws';
import { parseConfig } from '../../../pipeline/config/load.js';
import { UnseenPaths } from '../../../pipeline/governance/unseen-paths.js';
import { startFromConfig } from '../../../pipeline/run.js';
import { CliProcesses } from '../../helpers/cli.js';
import { captureLog } from '../../helpers/log-capture.js';
import { tempDir } from '../../helpers/temp.js';
import { TestWebSocketServer } from '../../helpers/ws-server.js';

describe('guardrails: Adobe’s soft limits, naming hints, and mapped paths never seen', function () {
  this.timeout(30_000);
  const processes = new CliProcesses();
  afterEach(() => processes.killAll());

  it('validate warns past 250 audiences and 50 attributes, and hints at targets that are not camelCase', async () => {
    // Ids in AEP's form (UUIDs), so the only advice is the guardrails'.
    const audiences = Array.from(
      { length: 251 },
      (_, i) => `{ id: 5b6f8f7e-3d1c-4a57-9a8e-${String(i).padStart(12, '0')} }`,
    ).join(', ');
    const attributes = Array.from({ length: 51 }, (_, i) => `{ source: x.f${i}, target: f${i} }`);
    attributes[1] = '{ source: person.name.firstName, target: first_name }';
    attributes[2] = '{ source: person.name.lastName, target: Person.LastName }';
    const file = join(mkdtempSync(join(tmpdir(), 'qa-guardrails-')), 'config.yaml');
    writeFileSync(
      file,
      `
name: Big
source: { websocket: { url: "ws://127.0.0.1:1" } }
destination: { url: "https://x.qualtrics.com/e", apiToken: "\${T}", auth: header }
audiences: [${audiences}]
identities: [{ source: Email, target: email }]
attributes: [${attributes.join(', ')}]
`,
    );
    const result = await processes.run(['validate', '--config', file], { T: 't' });
    expect(result.code).to.equal(0);
    const advice = result.stdout.split('\n').filter((line) => /^(warning|hint):/.test(line));
    expect(advice).to.deep.equal([
      "warning: audiences: 251 audiences, over Adobe's soft limit of 250 per dataflow",
      "warning: attributes: 51 mapped attributes, over Adobe's soft limit of 50 per dataflow",
      'hint: attributes[1].target "first_name" is not camelCase, the recommended convention (a workflow reads fields by JSONPath: a stable, plain name is easiest to use there)',
      'hint: attributes[2].target "Person.LastName" is not camelCase, the recommended convention (a workflow reads fields by JSONPath: a stable, plain name is easiest to use there)',
    ]);
  });

  it('reports once the mapped paths none of the first updates had', () => {
    const reports: Array<[readonly string[], number]> = [];
    const survey = new UnseenPaths(['person.name.firstName', 'person.name.firstname', 'loyalty.tier'], (unseen, n) =>
      reports.push([unseen, n]),
    );
    survey.see({ person: { name: { firstName: 'Ann' } } });
    survey.see({ loyalty: { tier: null } });
    expect(reports).to.deep.equal([]);
    for (let i = 0; i < 1000; i += 1) survey.see({});
    expect(reports).to.deep.equal([[['person.name.firstname'], 1000]]);
  });

  it('says nothing when every mapped path was seen', () => {
    const reports: unknown[] = [];
    const survey = new UnseenPaths(['a'], (unseen) => reports.push(unseen), 2);
    for (let i = 0; i < 5; i += 1) survey.see({ a: 1 });
    expect(reports).to.deep.equal([]);
  });

  it('run logs the report for a flow after its first 1,000 updates', async () => {
    const feed = await TestWebSocketServer.start();
    const { logger, lines } = captureLog();
    try {
      const started = await startFromConfig(
        parseConfig(
          `
name: Survey
source: { websocket: { url: "${feed.url}" } }
state: { dir: ${tempDir()} }
destination: { url: "https://x.qualtrics.com/e", apiToken: t, auth: header }
audiences: [{ id: a1 }]
identities: [{ source: Email, target: email }]
attributes: [{ source: person.name.firstName, target: firstName }, { source: person.name.lastname, target: lastName }]
`,
          {},
        ),
        logger,
      );
      const socket: WebSocket = await feed.connection(1);
      const update = JSON.stringify({ person: { name: { firstName: 'A', lastName: 'B' } } });
      for (let i = 0; i < 1000; i += 1) socket.send(update);
      await started.flows[0]!.pipeline.ledger.whenSettled(1000);
      await started.stop();
      const reports = lines()
        .map((line) => JSON.parse(line) as { msg: string; unseen?: string[] })
        .filter((line) => line.unseen !== undefined);
      expect(reports.map(({ msg }) => msg)).to.deep.equal([
        'mapped source path(s) person.name.lastname not in any of the first 1000 updates: a typo in attributes[].source?',
      ]);
    } finally {
      await feed.close();
    }
  });
});
