import { messageOf } from '../../operators/model/errors.js';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One readiness check: whether it passes, and what it found. */
export interface Check {
  readonly ok: boolean;
  readonly detail: string;
}

export interface HealthRoutes {
  /** The Prometheus exposition. */
  metrics(): Promise<{ readonly contentType: string; readonly body: string }>;
  /** Named checks; ready when all pass. */
  readiness(): Readonly<Record<string, Check>>;
  /** Recent outcomes (`/runs?failed=1&limit=50`). */
  runs?(query: URLSearchParams): Promise<unknown>;
  /**
   * Answers first every request but `/healthz` and `/readyz` (which stay open for probes): the console,
   * and the access check in front of `/metrics` and `/runs`. Resolves false to let the routes above answer.
   */
  handle?(request: IncomingMessage, response: ServerResponse, url: URL): Promise<boolean>;
}

export interface HealthServerOptions {
  readonly host: string;
  readonly port: number;
}

const json = (status: number, body: unknown) => ({
  status,
  type: 'application/json',
  body: `${JSON.stringify(body, null, 2)}\n`,
});

/**
 * The operations endpoint: `/metrics` (Prometheus), `/healthz` (the process is alive), `/readyz`
 * (200 when every check passes, 503 with the failing ones otherwise) and `/runs` (recent outcomes).
 */
export class HealthServer {
  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start({ host, port }: HealthServerOptions, routes: HealthRoutes): Promise<HealthServer> {
    const server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://health');
      const answer = async () => {
        const open = url.pathname === '/healthz' || url.pathname === '/readyz';
        if (!open && routes.handle && (await routes.handle(req, res, url))) return undefined;
        if (req.method !== 'GET') return { status: 405, type: 'text/plain', body: 'GET only\n' };
        switch (url.pathname) {
          case '/metrics': {
            const { contentType, body } = await routes.metrics();
            return { status: 200, type: contentType, body };
          }
          case '/healthz':
            return { status: 200, type: 'text/plain', body: 'ok\n' };
          case '/readyz': {
            const checks = routes.readiness();
            const ready = Object.values(checks).every((check) => check.ok);
            return json(ready ? 200 : 503, { ready, checks });
          }
          case '/runs':
            return routes.runs
              ? json(200, await routes.runs(url.searchParams))
              : json(404, { error: 'no run history here' });
          default:
            return { status: 404, type: 'text/plain', body: 'not found: try /metrics, /healthz, /readyz or /runs\n' };
        }
      };
      answer().then(
        (answered) => {
          if (answered) res.writeHead(answered.status, { 'content-type': answered.type }).end(answered.body);
        },
        (error: unknown) => {
          if (res.headersSent) res.destroy();
          else res.writeHead(500, { 'content-type': 'text/plain' }).end(`${messageOf(error)}\n`);
        },
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    const address = server.address() as AddressInfo;
    return new HealthServer(
      server,
      `http://${address.address.includes(':') ? `[${address.address}]` : address.address}:${address.port}`,
    );
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.closeAllConnections();
      this.server.close(() => resolve());
    });
  }
}
