import type { IncomingMessage } from 'node:http';
import type { Redis } from 'ioredis';
import WebSocket from 'ws';
import { updateFor } from '../../helpers/harness.js';
import { TestWebSocketServer } from '../../helpers/ws-server.js';

export type Status = 'realized' | 'exited';

/** One profile update a scenario sends, and the key its payload will have at the endpoint. */
export interface Update {
  readonly email: string;
  readonly version: number;
  readonly status: Status;
  readonly profile: object;
  /** `email|firstName|status`: what identifies this update's payload among the bodies received. */
  readonly key: string;
}

export const keyOf = (email: string, firstName: string, status: string): string => `${email}|${firstName}|${status}`;

/** The key of a body the endpoint received (see `Update.key`), or undefined if it is not a payload. */
export const keyOfBody = (body: string): string | undefined => {
  try {
    const payload = JSON.parse(body) as {
      firstName?: string;
      identityMap?: { Email?: Array<{ id?: string }> };
      segmentMembership?: { ups?: { a1?: { status?: string } } };
    };
    const email = payload.identityMap?.Email?.[0]?.id;
    const status = payload.segmentMembership?.ups?.a1?.status;
    return email === undefined || status === undefined ? undefined : keyOf(email, String(payload.firstName), status);
  } catch {
    return undefined;
  }
};

/** After harness.ts's `lastQualificationTime` (09:00): the later of a person's two states. */
const EXITED_AT = '2026-11-29T10:00:00Z';

/** The update for `email` at `version` with `status` (harness.ts's `updateFor`, realized or exited). */
export const updateOf = (email: string, version: number, status: Status = 'realized'): Update => {
  const realized = updateFor(email, version);
  const profile =
    status === 'realized'
      ? realized
      : { ...realized, segmentMembership: { ups: { a1: { status: 'exited', lastQualificationTime: EXITED_AT } } } };
  return { email, version, status, profile, key: keyOf(email, `v${version}`, status) };
};

/** N distinct updates, one person each: `<prefix><i>@example.com`, version 1, realized. */
export const distinctUpdates = (n: number, prefix = 'p'): Update[] =>
  Array.from({ length: n }, (_, i) => updateOf(`${prefix}${i}@example.com`, 1));

/** Appends updates to a stream, one entry each (field `profile`), in order; resolves with their ids. */
export const xaddUpdates = async (
  redis: Redis,
  stream: string,
  updates: readonly Update[],
  field = 'profile',
): Promise<string[]> => {
  const ids: string[] = [];
  // Batches of pipelined XADDs: in order, and fast enough for a few hundred entries.
  for (let i = 0; i < updates.length; i += 100) {
    const batch = redis.pipeline();
    for (const update of updates.slice(i, i + 100)) batch.xadd(stream, '*', field, JSON.stringify(update.profile));
    const replies = (await batch.exec()) ?? [];
    for (const [error, id] of replies) {
      if (error) throw error;
      ids.push(String(id));
    }
  }
  return ids;
};

/**
 * A feed the pipeline connects to as a client (`source.websocket.url`). Plain: it sends what it is told
 * on the newest connection. With `resumable`, each update carries an `offset` and a reconnect asking
 * `?after=<offset>` gets everything after it again, the way `source.websocket.resume` expects.
 */
export class Feed {
  readonly #sent: Array<{ offset: number; text: string }> = [];

  /** While true, every connection is dropped as soon as it opens: a feed that is down. */
  refusing = false;

  private constructor(readonly server: TestWebSocketServer) {
    server.server.on('connection', (socket: WebSocket, request: IncomingMessage) => {
      if (this.refusing) {
        socket.terminate();
        return;
      }
      const after = new URL(request.url ?? '/', 'http://feed').searchParams.get('after');
      if (after === null) return;
      // A resuming client: send again what came after the last offset it took, in order.
      for (const { offset, text } of this.#sent) if (offset > Number(after)) socket.send(text);
    });
  }

  static async start(): Promise<Feed> {
    return new Feed(await TestWebSocketServer.start());
  }

  get url(): string {
    return this.server.url;
  }

  /** Resolves with the n-th connection (1-based) once it is open. */
  connection(n: number): Promise<WebSocket> {
    return this.server.connection(n);
  }

  /** The newest open connection, or undefined. */
  get current(): WebSocket | undefined {
    const open = this.server.connections.filter(({ socket }) => socket.readyState === WebSocket.OPEN);
    return open[open.length - 1]?.socket;
  }

  /**
   * Sends updates on the newest open connection. `resumable`: each carries an `offset`, and with no
   * client connected they are kept for the next one that resumes (a feed that goes on producing).
   */
  send(updates: readonly Update[], { resumable = false } = {}): void {
    const socket = this.current;
    if (!socket && !resumable) throw new Error('the feed has no open connection');
    for (const update of updates) {
      const offset = this.#sent.length + 1;
      const text = JSON.stringify(resumable ? { offset: String(offset), ...update.profile } : update.profile);
      this.#sent.push({ offset, text });
      socket?.send(text);
    }
  }

  /** Drops every connection at once (no close handshake): the feed going away. */
  drop(): void {
    for (const { socket } of this.server.connections) socket.terminate();
  }

  close(): Promise<void> {
    return this.server.close();
  }
}

/**
 * A producer of a listen-mode pipeline with acknowledgements (`?ack=1`): `send` resolves once the
 * pipeline answered `{"ack": n}` (journaled, or settled without a journal) and rejects on a nack.
 */
export class AckingProducer {
  #sent = 0;
  readonly #waiting = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => {
      const reply = JSON.parse(String(data)) as { ack?: number; nack?: number; error?: string };
      const n = reply.ack ?? reply.nack ?? 0;
      const waiter = this.#waiting.get(n);
      this.#waiting.delete(n);
      if (reply.ack !== undefined) waiter?.resolve();
      else waiter?.reject(new Error(`nack ${n}: ${reply.error ?? ''}`));
    });
    socket.on('close', () => {
      for (const [n, waiter] of this.#waiting) waiter.reject(new Error(`connection closed before ack ${n}`));
      this.#waiting.clear();
    });
  }

  static async connect(url: string, token: string): Promise<AckingProducer> {
    const socket = new WebSocket(`${url}?ack=1`, { headers: { authorization: `Bearer ${token}` } });
    socket.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('unexpected-response', () => reject(new Error('the listener refused the upgrade')));
      socket.once('close', () => reject(new Error('closed before open')));
    });
    return new AckingProducer(socket);
  }

  send(update: Update): Promise<void> {
    this.#sent += 1;
    const n = this.#sent;
    const acked = new Promise<void>((resolve, reject) => this.#waiting.set(n, { resolve, reject }));
    this.socket.send(JSON.stringify(update.profile));
    return acked;
  }

  close(): void {
    this.socket.terminate();
  }
}
