import type { WebSocket } from 'ws';
import { parseConfig } from '../../pipeline/config/load.js';
import { QualtricsStandIn, type QualtricsStandInOptions } from '../../pipeline/demo/qualtrics-stand-in.js';
import { silentLogger } from '../../pipeline/logger.js';
import { startFromConfig, type Started } from '../../pipeline/run.js';
import { deadLetterFile, tempDir } from './temp.js';
import { TestWebSocketServer } from './ws-server.js';

export const API_TOKEN = 'harness-api-token';

/** A profile update for `email`, realized in audience `a1`; `version` makes its payload distinct. */
export const updateFor = (email: string, version: number | string = 1): object => ({
  person: { name: { firstName: `v${version}` } },
  identityMap: { Email: [{ id: email }] },
  segmentMembership: { ups: { a1: { status: 'realized', lastQualificationTime: '2026-11-29T09:00:00Z' } } },
});

export interface HarnessOptions {
  /** YAML lines added under `destination:` (indented two spaces), e.g. `rateLimit: { requests: 20, perSeconds: 1 }`. */
  readonly destination?: readonly string[];
  /** YAML added at the top level, e.g. `redis: { url: ..., prefix: ... }`. */
  readonly topLevel?: string;
  readonly respond?: QualtricsStandInOptions['respond'];
}

/**
 * A pipeline under test, end to end over loopback: a real WebSocket feed, the pipeline as `run` builds
 * it from YAML, and a real local HTTP endpoint standing in for the JSON Event.
 */
export class Harness {
  private constructor(
    readonly feed: TestWebSocketServer,
    readonly standIn: QualtricsStandIn,
    readonly started: Started,
    readonly socket: WebSocket,
  ) {}

  static async start({ destination = [], topLevel = '', respond }: HarnessOptions = {}): Promise<Harness> {
    const feed = await TestWebSocketServer.start();
    const standIn = await QualtricsStandIn.start({ apiToken: API_TOKEN, ...(respond ? { respond } : {}) });
    const config = parseConfig(
      `
name: Harness
source: { websocket: { url: "${feed.url}" } }
destination:
  url: ${standIn.url}
  apiToken: ${API_TOKEN}
  auth: header
  allowAnyHost: true
${destination.map((line) => `  ${line}`).join('\n')}
audiences: [{ id: a1 }]
identities: [{ source: Email, target: email }]
attributes: [{ source: person.name.firstName, target: firstName }]
${topLevel.includes('redis:') ? '' : `deadLetters: { file: ${deadLetterFile()} }\nstate: { dir: ${tempDir()} }`}
${topLevel}
`,
      {},
    );
    const started = await startFromConfig(config, silentLogger());
    const socket = await feed.connection(1);
    return new Harness(feed, standIn, started, socket);
  }

  send(...updates: readonly object[]): void {
    for (const update of updates) this.socket.send(JSON.stringify(update));
  }

  /** The bodies that arrived at the endpoint, parsed. */
  get arrived(): Array<{ firstName: string; identityMap: { Email: Array<{ id: string }> } }> {
    return this.standIn.requests.map((request) => JSON.parse(request.body.toString('utf8')) as never);
  }

  async stop(): Promise<void> {
    await this.started.stop();
    await this.feed.close();
    await this.standIn.close();
  }
}
