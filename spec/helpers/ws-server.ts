import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

/** A loopback WebSocket server for tests: records connections and their upgrade requests. */
export class TestWebSocketServer {
  readonly connections: Array<{ socket: WebSocket; request: IncomingMessage }> = [];
  #waiters: Array<() => void> = [];

  private constructor(readonly server: WebSocketServer) {
    server.on('connection', (socket, request) => {
      this.connections.push({ socket, request });
      for (const wake of this.#waiters.splice(0)) wake();
    });
  }

  static async start(port = 0): Promise<TestWebSocketServer> {
    const server = new WebSocketServer({ host: '127.0.0.1', port });
    await new Promise<void>((resolve) => server.once('listening', resolve));
    return new TestWebSocketServer(server);
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.server.address() as AddressInfo).port}/feed`;
  }

  /** Resolves with the n-th connection (1-based) once it is open. */
  async connection(n: number): Promise<WebSocket> {
    while (this.connections.length < n) await new Promise<void>((resolve) => this.#waiters.push(resolve));
    return this.connections[n - 1]!.socket;
  }

  close(): Promise<void> {
    for (const client of this.server.clients) client.terminate();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** Resolves once `predicate` holds, checking every few milliseconds; rejects after `timeoutMs`. */
export const eventually = async (
  predicate: () => boolean | Promise<boolean>,
  timeoutMs = 5_000,
  what = 'condition',
): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
};
