import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { timingSafeEqual } from 'node:crypto';

/** One request exactly as it arrived: for tests that check what was sent, byte for byte. */
export interface ReceivedRequest {
  readonly at: number;
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/** One run of the workflow, as Qualtrics' Run history shows it. */
export interface WorkflowRun {
  readonly number: number;
  readonly at: Date;
  readonly status: 'Succeeded' | 'Failed';
  readonly payload: unknown;
}

export interface StandInAnswer {
  readonly status: number;
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface QualtricsStandInOptions {
  readonly apiToken: string;
  /** With a username, Basic auth (username:apiToken) is expected; without, the X-API-TOKEN header. */
  readonly username?: string;
  readonly path?: string;
  readonly host?: string;
  readonly port?: number;
  /** Answers a request before the stand-in does (to play a 429 or a 503); `undefined` lets it answer. */
  readonly respond?: (request: ReceivedRequest) => StandInAnswer | undefined | Promise<StandInAnswer | undefined>;
}

const MAX_BYTES = 100 * 1024;

const equalSecrets = (given: string, expected: string): boolean => {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
};

const meta = (status: number, text: string, error?: string): unknown => ({
  meta: { httpStatus: `${status} - ${text}`, ...(error ? { error: { errorMessage: error } } : {}) },
});

/**
 * A local endpoint that behaves like a Qualtrics workflow's JSON Event: POST only, JSON only, checks the
 * credentials (Basic username:token or X-API-TOKEN), refuses bodies over 100 KB, answers 202 and keeps a
 * run history. The demo sends to it; tests read `requests` to see exactly what arrived.
 */
export class QualtricsStandIn {
  readonly requests: ReceivedRequest[] = [];
  readonly runs: WorkflowRun[] = [];

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(options: QualtricsStandInOptions): Promise<QualtricsStandIn> {
    const path = options.path ?? '/inbound-event/v1/events/json/demo-workflow';
    let standIn: QualtricsStandIn | undefined;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const request: ReceivedRequest = {
          at: Date.now(),
          method: req.method ?? '',
          path: req.url ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks),
        };
        standIn!.requests.push(request);
        void Promise.resolve(options.respond?.(request))
          .then((custom) => custom ?? standIn!.answer(request, path, options))
          .then((answer) => {
            res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
            res.end(answer.body === undefined ? '' : JSON.stringify(answer.body));
          });
      });
    });
    await new Promise<void>((resolve) => server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve));
    const { address, port } = server.address() as AddressInfo;
    standIn = new QualtricsStandIn(server, `http://${address}:${port}${path}`);
    return standIn;
  }

  answer(request: ReceivedRequest, path: string, options: QualtricsStandInOptions): StandInAnswer {
    if (request.path !== path) return { status: 404, body: meta(404, 'Not Found', 'no JSON Event at this URL') };
    if (request.method !== 'POST') return { status: 405, body: meta(405, 'Method Not Allowed') };
    if (!this.authorized(request.headers, options))
      return { status: 401, body: meta(401, 'Unauthorized', 'invalid credentials') };
    if (!String(request.headers['content-type'] ?? '').startsWith('application/json'))
      return { status: 415, body: meta(415, 'Unsupported Media Type', 'only application/json is accepted') };
    if (request.body.length > MAX_BYTES) return { status: 413, body: meta(413, 'Payload Too Large') };
    let payload: unknown;
    try {
      payload = JSON.parse(request.body.toString('utf8'));
    } catch {
      return { status: 400, body: meta(400, 'Bad Request', 'the body is not JSON') };
    }
    this.runs.push({ number: this.runs.length + 1, at: new Date(request.at), status: 'Succeeded', payload });
    return { status: 202, body: meta(202, 'Accepted') };
  }

  private authorized(headers: IncomingHttpHeaders, { username, apiToken }: QualtricsStandInOptions): boolean {
    if (username === undefined) return equalSecrets(String(headers['x-api-token'] ?? ''), apiToken);
    const expected = `Basic ${Buffer.from(`${username}:${apiToken}`).toString('base64')}`;
    return equalSecrets(String(headers.authorization ?? ''), expected);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.closeAllConnections();
      this.server.close(() => resolve());
    });
  }
}
