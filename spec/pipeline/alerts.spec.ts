import { expect } from 'chai';
import { createServer } from 'node:http';
import { decodeOrThrow } from '../../operators/model/codecs.js';
import { DESTINATION_REJECTED } from '../../operators/emit.js';
import { Ledger } from '../../operators/model/ledger.js';
import { delivered, excluded, failed, type Outcome } from '../../operators/model/outcome.js';
import { Ticket } from '../../operators/model/ticket.js';
import { AlertMonitor, AlertsConfig, type AlertEvent } from '../../pipeline/alerts.js';
import { parseConfig } from '../../pipeline/config/load.js';
import { silentLogger } from '../../pipeline/logger.js';
import { alertNotifier } from '../../pipeline/run.js';
import { IntakeValve } from '../../pipeline/valve.js';
import { eventually } from '../helpers/ws-server.js';
import { captureLog } from '../helpers/log-capture.js';

const config = decodeOrThrow(AlertsConfig, {
  windowSeconds: 60,
  skippedRate: 0.1,
  minVolume: 10,
  failures: 3,
  stalledSeconds: 120,
});

/** A monitor on a clock the test moves, over a real ledger and valve; answers what it announced. */
const setup = () => {
  const clock = { now: 1_000_000 };
  const ledger = new Ledger();
  const valve = new IntakeValve();
  const events: AlertEvent[] = [];
  const monitor = new AlertMonitor(
    config,
    'Test',
    ledger,
    valve,
    (e) => events.push(e),
    () => clock.now,
  );
  const settle = (...outcomes: Outcome[]) => {
    for (const outcome of outcomes) Ticket.open(ledger).settle(outcome, { origin: { source: 't', position: '1' } });
  };
  const receive = () => Ticket.open(ledger);
  const advance = (seconds: number) => {
    clock.now += seconds * 1000;
    monitor.check();
  };
  const seen = () => events.map((e) => `${e.alert} ${e.state}`);
  return { ledger, valve, events, monitor, settle, receive, advance, seen };
};

describe('alerts', () => {
  it('activation skipped rate exceeded: fires once above the rate with enough volume, and clears once', () => {
    const { settle, advance, seen, events } = setup();
    settle(...Array.from({ length: 8 }, () => delivered(202)), excluded('not-qualified'), excluded('missing-identity'));
    advance(1);
    advance(1);
    expect(seen()).to.deep.equal(['activation-skipped-rate-exceeded firing']);
    expect(events[0]!.summary).to.equal(
      '20.0 % of 10 updates skipped (excluded or failed) in the last 60 s; the threshold is 10.0 %',
    );
    settle(...Array.from({ length: 20 }, () => delivered(202)));
    advance(1);
    advance(1);
    expect(seen()).to.deep.equal([
      'activation-skipped-rate-exceeded firing',
      'activation-skipped-rate-exceeded resolved',
    ]);
  });

  it('does not fire on a rate made of too few updates', () => {
    const { settle, advance, seen } = setup();
    settle(excluded('not-qualified'), delivered(202));
    advance(1);
    expect(seen()).to.deep.equal([]);
  });

  it('delivery failing: fires at the threshold within the window and clears when they age out', () => {
    const { settle, advance, seen } = setup();
    settle(failed('http-400'), failed('retries-exhausted'));
    advance(1);
    expect(seen()).to.deep.equal([]);
    settle(failed('http-400'));
    advance(1);
    expect(seen()).to.deep.equal(['delivery-failing firing']);
    advance(61);
    expect(seen()).to.deep.equal(['delivery-failing firing', 'delivery-failing resolved']);
  });

  it('destination rejected credentials: follows the valve, with what to fix', () => {
    const { valve, seen, events } = setup();
    valve.close(
      DESTINATION_REJECTED,
      'the destination rejected the credentials (401): check destination.username and destination.apiToken',
    );
    valve.close(DESTINATION_REJECTED, 'again');
    expect(seen()).to.deep.equal(['destination-rejected-credentials firing']);
    expect(events[0]!.summary).to.match(/check destination\.username/);
    valve.open(DESTINATION_REJECTED);
    expect(seen()).to.deep.equal([
      'destination-rejected-credentials firing',
      'destination-rejected-credentials resolved',
    ]);
  });

  it('stalled: input arriving with nothing delivered for stalledSeconds fires; a delivery clears it; idle time does not count', () => {
    const { receive, settle, advance, seen } = setup();
    advance(1000); // a long quiet spell with no input is not a stall
    receive();
    advance(60);
    expect(seen()).to.deep.equal([]);
    receive();
    advance(61);
    expect(seen()).to.deep.equal(['stalled firing']);
    settle(delivered(202));
    advance(1);
    expect(seen()).to.deep.equal(['stalled firing', 'stalled resolved']);
  });

  it('posts each announcement to alerts.webhook as JSON', async () => {
    const received: unknown[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        received.push({ contentType: req.headers['content-type'], body: JSON.parse(body) });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`;
      const pipelineConfig = parseConfig(`
name: Hooked
source: { websocket: { url: "ws://127.0.0.1:1" } }
destination: { url: "https://x.qualtrics.com/e", username: u, apiToken: t }
audiences: [{ id: a1 }]
identities: [{ source: Email, target: email }]
alerts: { webhook: "${url}" }
`);
      const notify = alertNotifier(pipelineConfig.flows[0]!, silentLogger());
      const event: AlertEvent = {
        alert: 'delivery-failing',
        state: 'firing',
        at: '2026-11-29T06:00:00.000Z',
        pipeline: 'Hooked',
        summary: '3 updates failed',
      };
      notify(event);
      notify({ ...event, state: 'resolved' });
      await eventually(() => received.length === 2, 5_000, 'two posts');
      expect(received).to.deep.equal([
        { contentType: 'application/json', body: event },
        { contentType: 'application/json', body: { ...event, state: 'resolved' } },
      ]);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('does not follow a redirect from alerts.webhook: the target gets nothing, and the log says so', async () => {
    let elsewhereHits = 0;
    const elsewhere = createServer((req, res) => {
      elsewhereHits += 1;
      req.resume();
      res.writeHead(204).end();
    });
    await new Promise<void>((resolve) => elsewhere.listen(0, '127.0.0.1', resolve));
    const elsewhereUrl = `http://127.0.0.1:${(elsewhere.address() as { port: number }).port}/stolen`;
    const redirecting = createServer((req, res) => {
      req.resume();
      res.writeHead(307, { location: elsewhereUrl }).end();
    });
    await new Promise<void>((resolve) => redirecting.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(redirecting.address() as { port: number }).port}/hook`;
      const pipelineConfig = parseConfig(`
name: Hooked
source: { websocket: { url: "ws://127.0.0.1:1" } }
destination: { url: "https://x.qualtrics.com/e", username: u, apiToken: t }
audiences: [{ id: a1 }]
identities: [{ source: Email, target: email }]
alerts: { webhook: "${url}" }
`);
      const { logger, lines } = captureLog();
      alertNotifier(
        pipelineConfig.flows[0]!,
        logger,
      )({
        alert: 'delivery-failing',
        state: 'firing',
        at: '2026-11-29T06:00:00.000Z',
        pipeline: 'Hooked',
        summary: '3 updates failed',
      });
      await eventually(() => lines().some((line) => line.includes('answered 307')), 5_000, 'the warning');
      expect(elsewhereHits).to.equal(0);
    } finally {
      await Promise.all([elsewhere, redirecting].map((s) => new Promise((resolve) => s.close(resolve))));
    }
  });
});
