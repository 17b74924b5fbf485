import { bearerTokenOf, sameSecret } from '../same-secret.js';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { Observable, of, type Subscription } from 'rxjs';
import WebSocket, { WebSocketServer } from 'ws';
import type { InboundMessage } from '../inbound-message.js';

export interface WebSocketListenOptions {
  readonly host: string;
  readonly port: number;
  readonly path: string;
  /** Producers must send `Authorization: Bearer <token>`. */
  readonly token: string;
  /** A larger message closes its producer's connection with 1009; other producers go on. */
  readonly maxPayloadBytes: number;
  readonly paused$?: Observable<boolean>;
  readonly onEvent?: (event: ListenEvent) => void;
  /**
   * When the producer asked for acknowledgements (`?ack=1`), when to send `{"ack": n}` for its n-th
   * message: `settled` (default: once its outcome is final), or `manual` (whoever takes the message
   * calls `reply`; the journal does, once the message is appended).
   */
  readonly ackWhen?: 'settled' | 'manual';
}

export type ListenEvent =
  | { readonly type: 'listening'; readonly url: string }
  | { readonly type: 'producer-connected'; readonly producers: number; readonly acks: boolean }
  | { readonly type: 'producer-refused'; readonly status: number; readonly why: string }
  | { readonly type: 'producer-disconnected'; readonly producers: number; readonly code: number }
  | { readonly type: 'error'; readonly error: Error };

/** A message from a producer, with a way to answer it (`{"ack": n}` or `{"nack": n, "error": ...}`). */
export interface ProducedMessage extends InboundMessage {
  /** Set when the producer asked for acknowledgements: call once the message is safe. */
  readonly reply?: (ok: boolean, error?: string) => void;
}

const refuse = (socket: Duplex, status: number, text: string): void => {
  socket.end(
    `HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ` +
      `${Buffer.byteLength(text)}\r\n\r\n${text}`,
  );
};

/**
 * A WebSocket server that producers connect to and push profile updates through. Several producers
 * may be connected at once. The upgrade is refused with 401 unless the bearer token matches (compared
 * in constant time), and with 404 on another path. While `paused$` is true no producer's socket is read,
 * so their sends back up in TCP.
 *
 * The acknowledgement protocol, for producers that need to know a message is safe: connect with
 * `?ack=1`; the server then answers each message, in order of arrival on that connection, with
 * `{"ack": n}` (n counts the connection's messages from 1) once it is safe, or `{"nack": n, "error": "..."}`
 * if it could not be taken; a producer resends what was not acknowledged.
 */
export class WebSocketListenSource {
  private constructor(
    private readonly server: Server,
    private readonly wss: WebSocketServer,
    readonly url: string,
    readonly messages$: Observable<ProducedMessage>,
  ) {}

  static async start(options: WebSocketListenOptions): Promise<WebSocketListenSource> {
    const {
      host,
      port,
      path,
      token,
      maxPayloadBytes,
      paused$ = of(false),
      onEvent = () => {},
      ackWhen = 'settled',
    } = options;
    const server = createServer((_req, res) =>
      res.writeHead(426, { 'content-type': 'text/plain' }).end('WebSocket upgrade required\n'),
    );
    const wss = new WebSocketServer({ noServer: true, maxPayload: maxPayloadBytes });
    const producers = new Set<WebSocket>();
    let paused = false;
    const subscribers = new Set<(message: ProducedMessage) => void>();

    server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      const url = new URL(request.url ?? '/', 'http://listener');
      if (url.pathname !== path) {
        onEvent({ type: 'producer-refused', status: 404, why: `path ${url.pathname}` });
        return refuse(socket, 404, 'Not Found');
      }
      const given = bearerTokenOf(request.headers.authorization);
      if (given === undefined || !sameSecret(given, token)) {
        onEvent({ type: 'producer-refused', status: 401, why: 'missing or wrong bearer token' });
        return refuse(socket, 401, 'Unauthorized');
      }
      wss.handleUpgrade(request, socket, head, (producer) =>
        wss.emit('connection', producer, request, url.searchParams.get('ack') === '1'),
      );
    });

    wss.on('connection', (producer: WebSocket, _request: IncomingMessage, acks: boolean) => {
      producers.add(producer);
      if (paused) producer.pause();
      onEvent({ type: 'producer-connected', producers: producers.size, acks });
      let sequence = 0;
      producer.on('message', (data) => {
        sequence += 1;
        const n = sequence;
        const reply = acks
          ? (ok: boolean, error?: string) => {
              if (producer.readyState === WebSocket.OPEN)
                producer.send(JSON.stringify(ok ? { ack: n } : { nack: n, error }));
            }
          : undefined;
        const message: ProducedMessage = {
          data,
          ...(reply ? { reply } : {}),
          ...(reply && ackWhen === 'settled' ? { ack: () => reply(true) } : {}),
        };
        // Nobody to take it (the pipeline is stopping): tell a producer who listens for answers.
        if (subscribers.size === 0) reply?.(false, 'not taking input');
        for (const deliver of subscribers) deliver(message);
      });
      producer.on('error', (error) => onEvent({ type: 'error', error }));
      producer.on('close', (code) => {
        producers.delete(producer);
        onEvent({ type: 'producer-disconnected', producers: producers.size, code });
      });
    });

    const pauseSubscription: Subscription = paused$.subscribe((value) => {
      paused = value;
      for (const producer of producers) {
        if (value && !producer.isPaused) producer.pause();
        if (!value && producer.isPaused) producer.resume();
      }
    });
    server.on('close', () => pauseSubscription.unsubscribe());

    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    const address = server.address() as AddressInfo;
    const shownHost = address.address.includes(':') ? `[${address.address}]` : address.address;
    const url = `ws://${shownHost}:${address.port}${path}`;
    onEvent({ type: 'listening', url });

    const messages$ = new Observable<ProducedMessage>((subscriber) => {
      const deliver = (message: ProducedMessage): void => subscriber.next(message);
      subscribers.add(deliver);
      return () => subscribers.delete(deliver);
    });
    return new WebSocketListenSource(server, wss, url, messages$);
  }

  /** Stops listening and closes every producer's connection (1001: going away). */
  close(): Promise<void> {
    for (const producer of this.wss.clients) {
      // A paused socket never reads the producer's answer to our close frame, and ws would wait 30 s for it.
      if (producer.isPaused) producer.resume();
      producer.close(1001, 'pipeline stopping');
    }
    return new Promise((resolve) => {
      this.wss.close();
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
