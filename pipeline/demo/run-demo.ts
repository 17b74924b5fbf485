import { totalOf } from '../../operators/model/ledger.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { timeout, firstValueFrom, from } from 'rxjs';
import { parseConfig } from '../config/load.js';
import { silentLogger } from '../logger.js';
import { maskIdentity } from '../mask.js';
import { startFromConfig } from '../run.js';
import type { LedgerCounts, Settlement } from '../../operators/model/ledger.js';
import { compareOrder } from '../../operators/model/order.js';
import { DemoFeed } from './feed.js';
import { QualtricsStandIn, type WorkflowRun } from './qualtrics-stand-in.js';
import { AUDIENCES, envelopeCount, sampleMessages } from './sample-updates.js';

/** The demo's config: the same YAML a user writes, pointed at the embedded feed and endpoint. */
export const DEMO_CONFIG = `
name: Demo - post-purchase survey
description: Embedded demo; no outside services.
source:
  websocket:
    url: \${DEMO_FEED_URL}
destination:
  url: \${DEMO_EVENT_URL}
  username: demo.user@example.com
  apiToken: \${DEMO_API_TOKEN}
  auth: basic
  allowAnyHost: true          # the stand-in is plain http on 127.0.0.1
deadLetters:
  file: \${DEMO_DEAD_LETTERS}
state:
  dir: \${DEMO_STATE}
audiences:
  - id: ${AUDIENCES.checkout.id}
    name: ${AUDIENCES.checkout.name}
  - id: ${AUDIENCES.onboarding.id}
    name: ${AUDIENCES.onboarding.name}
identities:
  - { source: Email, target: email }
  - { source: ECID, target: external_id }
attributes:
  - { source: person.name.firstName, target: person.name.firstName }
  - { source: mobilePhone.number, target: mobilePhone.number }
  - { source: loyalty.tier, target: loyaltyTier }
`;

const DEMO_API_TOKEN = 'demo-token-not-a-real-secret';

const pad = (text: string | number, width: number): string => String(text).padEnd(width);

const byReason = (counts: Readonly<Record<string, number>>): string =>
  Object.entries(counts)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([reason, n]) => `${reason} ${n}`)
    .join(', ');

/** The demo's report, as printed. Pure, so a test can read it. */
export const formatDemoReport = (
  counts: LedgerCounts,
  settlements: readonly Settlement[],
  runs: readonly WorkflowRun[],
  feedUrl: string,
  eventUrl: string,
): string => {
  // Positions are `<ms>-<seq>[#part]`; the report numbers messages as the feed sent them.
  const messages = [...new Set(settlements.map(({ origin }) => origin.position.split('#')[0]!))].sort(
    (a, b) => compareOrder(a, b) ?? 0,
  );
  const label = (position: string): string => {
    const [message, part] = position.split('#');
    return `msg ${messages.indexOf(message!) + 1}${part === undefined ? '' : `.${Number(part) + 1}`}`;
  };
  const lines = [
    'qualtrics-automations demo',
    `  feed         ${feedUrl}  (an embedded stand-in for Adobe's profile stream)`,
    `  destination  ${eventUrl}  (an embedded stand-in for a Qualtrics JSON Event)`,
    '',
    'Outcomes',
    `  received   ${pad(counts.received, 4)}`,
    `  delivered  ${pad(counts.delivered, 4)}`,
    `  duplicate  ${pad(counts.duplicate, 4)}`,
    `  excluded   ${pad(totalOf(counts.excluded), 4)} ${byReason(counts.excluded)}`,
    `  failed     ${pad(totalOf(counts.failed), 4)} ${byReason(counts.failed)}`,
    `  in flight  ${pad(counts.inFlight, 4)} ` +
      `${counts.inFlight === 0 ? '(every update accounted for)' : '(NOT all accounted for)'}`,
    '',
    'Not delivered, and why',
    ...settlements.flatMap(({ outcome, origin, identity }) => {
      if (outcome.kind === 'delivered') return [];
      const reason = outcome.kind === 'duplicate' ? 'duplicate' : `${outcome.kind} ${outcome.reason}`;
      const who = maskIdentity(identity) ?? '-';
      return [
        `  ${pad(label(origin.position), 8)} ${pad(reason, 28)} ${pad(who, 26)} ${outcome.detail ?? ''}`.trimEnd(),
      ];
    }),
    '',
    'Run history (as the workflow shows it)',
    ...runs.map(
      (run) =>
        `  run ${pad(run.number, 3)} ${pad(run.status, 10)} ${run.at.toISOString()}  ${JSON.stringify(run.payload)}`,
    ),
  ];
  return `${lines.join('\n')}\n`;
};

/**
 * `npm start`: a feed sends realistic profile updates over a real local WebSocket, the pipeline
 * activates them to a local endpoint that behaves like a Qualtrics JSON Event, and the report shows
 * what became of each. Resolves with the exit code: 0 when every update is accounted for.
 */
export const runDemo = async (
  write: (text: string) => void = (text) => process.stdout.write(text),
): Promise<number> => {
  const standIn = await QualtricsStandIn.start({ username: 'demo.user@example.com', apiToken: DEMO_API_TOKEN });
  const messages = sampleMessages();
  const feed = await DemoFeed.start({ messages });
  try {
    // A fresh place each time: the demo's repeat must be caught within the run, not by a previous one.
    const dir = mkdtempSync(join(tmpdir(), 'qualtrics-automations-demo-'));
    const deadLetters = join(dir, 'dead-letters.jsonl');
    const env = {
      DEMO_FEED_URL: feed.url,
      DEMO_EVENT_URL: standIn.url,
      DEMO_API_TOKEN,
      DEMO_DEAD_LETTERS: deadLetters,
      DEMO_STATE: join(dir, 'state'),
    };
    const config = parseConfig(DEMO_CONFIG, env, 'demo config');
    const started = await startFromConfig(config, silentLogger());
    const settlements: Settlement[] = [];
    // The demo's config has one flow.
    const { ledger } = started.flows[0]!.pipeline;
    ledger.settlements$.subscribe((settlement) => settlements.push(settlement));
    await firstValueFrom(from(ledger.whenSettled(envelopeCount(messages))).pipe(timeout(30_000)));
    const { counts } = (await started.stop()).flows[0]!;
    write(formatDemoReport(counts, settlements, standIn.runs, feed.url, standIn.url));
    write(`\nDead letters (what failed, kept to inspect and resend): ${deadLetters}\n`);
    return counts.inFlight === 0 && counts.received === envelopeCount(messages) ? 0 : 1;
  } finally {
    await feed.close();
    await standIn.close();
  }
};
