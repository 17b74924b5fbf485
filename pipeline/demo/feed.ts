import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';

export interface DemoFeedOptions {
  /** The messages to send, in order, to every client that connects. */
  readonly messages: readonly string[];
  /** Pause between messages, so the demo looks like a live feed. */
  readonly intervalMs?: number;
}

/**
 * A local WebSocket server standing in for a customer-data platform's profile feed: each client that
 * connects receives the messages in order. It stays open afterwards, as a live feed would.
 */
export class DemoFeed {
  private constructor(
    private readonly server: WebSocketServer,
    readonly url: string,
  ) {}

  static async start({ messages, intervalMs = 10 }: DemoFeedOptions): Promise<DemoFeed> {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => server.once('listening', resolve));
    server.on('connection', (socket) => {
      let next = 0;
      const timer = setInterval(() => {
        if (next >= messages.length) return clearInterval(timer);
        socket.send(messages[next]!);
        next += 1;
      }, intervalMs);
      socket.on('close', () => clearInterval(timer));
    });
    const { port } = server.address() as AddressInfo;
    return new DemoFeed(server, `ws://127.0.0.1:${port}/profiles`);
  }

  close(): Promise<void> {
    for (const client of this.server.clients) client.terminate();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
