import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { busiestWindow } from '../../helpers/windows.js';

/** One POST as it arrived, and what the endpoint did with it. */
export interface Arrival {
  /** Arrival order, from 1. */
  readonly n: number;
  /** When the request's body had arrived (epoch ms). */
  readonly at: number;
  readonly body: string;
  /** The identity the payload is for (`identityMap.Email[0].id`, or the first id of any namespace). */
  readonly identity: string | undefined;
  /** What the endpoint answered: a status, or `dropped` (the connection was destroyed unanswered). */
  answer?: number | 'dropped';
}

/** How to answer one request. */
export type Answer =
  | {
      readonly status: number;
      readonly body?: string;
      /** Sent as the `Retry-After` header (seconds or an HTTP date). */
      readonly retryAfter?: string;
      /** Wait this long before answering (a slow destination). */
      readonly delayMs?: number;
    }
  /** Destroy the connection without an answer (a reset). */
  | { readonly drop: true; readonly delayMs?: number };

/** Answers a request; the default accepts everything with 202, as a JSON Event does. */
export type Script = (arrival: Arrival) => Answer | Promise<Answer>;

export interface EndpointOptions {
  readonly path?: string;
  readonly script?: Script;
}

/** While down: `refuse` closes the listening socket (connection refused), `unavailable` answers 503. */
export type Outage = 'refuse' | 'unavailable';

export const ACCEPT: Answer = { status: 202, body: '{"meta":{"httpStatus":"202 - Accepted"}}' };
const UNAVAILABLE: Answer = { status: 503, body: 'down for the fault run' };
const DEFAULT_PATH = '/inbound-event/v1/events/json/fault';

interface Payload {
  readonly identityMap?: Readonly<Record<string, ReadonlyArray<{ readonly id?: unknown }>>>;
}

const identityOf = (body: string): string | undefined => {
  try {
    const { identityMap = {} } = JSON.parse(body) as Payload;
    const id = (identityMap.Email ?? Object.values(identityMap)[0])?.[0]?.id;
    return typeof id === 'string' ? id : undefined;
  } catch {
    return undefined;
  }
};

const accepted = ({ answer }: Arrival): boolean => typeof answer === 'number' && answer >= 200 && answer < 300;

/**
 * A local HTTP endpoint standing in for a Qualtrics JSON Event in fault runs: it records every POST
 * body with its arrival time, answers as a scenario scripts it (status, delay, Retry-After, a dropped
 * connection), can be taken down (refusing connections or answering 503) and brought back on the same
 * port, and reports what a checker needs: what was accepted, duplicates, the busiest window, order
 * per identity.
 */
export class CountingEndpoint {
  readonly arrivals: Arrival[] = [];
  script: Script = () => ACCEPT;
  #outage: Outage | undefined;
  #server: Server;
  readonly #pending = new Set<ServerResponse>();

  private constructor(
    readonly port: number,
    readonly path: string,
    server: Server,
  ) {
    this.#server = server;
  }

  static async start({ path = DEFAULT_PATH, script }: EndpointOptions = {}): Promise<CountingEndpoint> {
    let endpoint: CountingEndpoint | undefined;
    const server = createServer((req, res) => endpoint!.#handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = new CountingEndpoint((server.address() as AddressInfo).port, path, server);
    if (script) endpoint.script = script;
    return endpoint;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}${this.path}`;
  }

  get outage(): Outage | undefined {
    return this.#outage;
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const arrival: Arrival = { n: this.arrivals.length + 1, at: Date.now(), body, identity: identityOf(body) };
      this.arrivals.push(arrival);
      this.#pending.add(res);
      res.once('close', () => this.#pending.delete(res));
      const answer: Promise<Answer> =
        this.#outage === 'unavailable' ? Promise.resolve(UNAVAILABLE) : Promise.resolve(this.script(arrival));
      void answer.then(async (chosen) => {
        if (chosen.delayMs) await new Promise((resolve) => setTimeout(resolve, chosen.delayMs));
        if ('drop' in chosen) {
          arrival.answer = 'dropped';
          req.socket.destroy();
          return;
        }
        arrival.answer = chosen.status;
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        if (chosen.retryAfter !== undefined) headers['retry-after'] = chosen.retryAfter;
        if (!res.destroyed) res.writeHead(chosen.status, headers).end(chosen.body ?? '');
      });
    });
  }

  /**
   * Takes the endpoint down: `refuse` closes the listening socket and every open connection (the next
   * attempt is refused); `unavailable` keeps listening and answers 503 to everything.
   */
  async down(outage: Outage = 'refuse'): Promise<void> {
    this.#outage = outage;
    if (outage === 'unavailable') return;
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  /** Brings it back, listening on the same port again if it was refusing. */
  async up(): Promise<void> {
    const was = this.#outage;
    this.#outage = undefined;
    if (was !== 'refuse') return;
    const server = createServer((req, res) => this.#handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.#server = server;
  }

  /** Every request that was accepted (2xx): what the workflow ran for. */
  accepted(): Arrival[] {
    return this.arrivals.filter(accepted);
  }

  /** Bodies accepted more than once, with how many times: the same identity and payload delivered twice. */
  duplicates(): Array<{ body: string; times: number }> {
    const times = new Map<string, number>();
    for (const { body } of this.accepted()) times.set(body, (times.get(body) ?? 0) + 1);
    return [...times].filter(([, n]) => n > 1).map(([body, n]) => ({ body, times: n }));
  }

  /** The most requests (accepted or not: every attempt counts toward the limit) in any window of `windowMs`. */
  busiestWindow(windowMs: number): number {
    return busiestWindow(
      this.arrivals.map((a) => a.at),
      windowMs,
    );
  }

  /** The accepted bodies of each identity, in the order they were accepted. */
  orderByIdentity(): Map<string, string[]> {
    const order = new Map<string, string[]>();
    for (const { identity, body } of this.accepted()) {
      const key = identity ?? '(none)';
      order.set(key, [...(order.get(key) ?? []), body]);
    }
    return order;
  }

  async close(): Promise<void> {
    for (const res of this.#pending) res.destroy();
    if (!this.#server.listening) return;
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }
}
