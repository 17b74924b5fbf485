import { isJsonObject, parseJson } from '../../operators/model/json.js';
import { Observable, of } from 'rxjs';
import WebSocket from 'ws';
import { backoffMs } from '../../operators/model/backoff.js';
import type { InboundMessage } from '../inbound-message.js';

/** What the connection is doing, for logs and readiness. */
export type ConnectionEvent =
  | { readonly type: 'connecting'; readonly attempt: number; readonly url: string }
  | { readonly type: 'connected' }
  | { readonly type: 'disconnected'; readonly code: number; readonly reason: string; readonly retryInMs: number }
  | { readonly type: 'unresponsive'; readonly silentMs: number }
  | { readonly type: 'error'; readonly error: Error };

/**
 * A feed that can resume: each message carries its id in a top-level JSON field, and a reconnect
 * asking `?<query>=<last id taken>` makes the feed send what came after it.
 */
export interface ResumePoint {
  readonly idField: string;
  readonly query: string;
}

export interface WebSocketClientSourceOptions {
  readonly url: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** First reconnect delay; doubles on each failed attempt up to `maxReconnectMs`, with jitter. */
  readonly initialReconnectMs?: number;
  readonly maxReconnectMs?: number;
  /** A ping every this often; a connection silent for two of them (no pong, no message) is dropped. */
  readonly heartbeatMs?: number;
  readonly resume?: ResumePoint;
  readonly onEvent?: (event: ConnectionEvent) => void;
  /** While true, the socket is not read: the feed's sends back up in TCP instead of in this process. */
  readonly paused$?: Observable<boolean>;
}

/** The id a resumable feed put in a message, if any (a message that is not a JSON object has none). */
const idOf = (data: WebSocket.RawData, field: string): string | undefined => {
  const parsed = parseJson(data.toString());
  const id = isJsonObject(parsed) ? parsed[field] : undefined;
  return typeof id === 'string' || typeof id === 'number' ? String(id) : undefined;
};

const withQuery = (url: string, name: string, value: string): string => {
  const next = new URL(url);
  next.searchParams.set(name, value);
  return next.toString();
};

/**
 * Connects to a feed as a WebSocket client and emits every message it sends. A dropped connection is
 * reconnected with exponential backoff and jitter until the observable is unsubscribed; a connection
 * that stops answering pings is dropped and reconnected too (not while paused: a paused socket is not
 * read, so its pongs are not either).
 *
 * With `resume`, the reconnect asks the feed for what came after the last message taken, so nothing is
 * taken twice or skipped. A plain feed has no resume point: what it sends while the connection is down
 * is the feed's to resend, and what it sends again is caught by dedupe. Messages carry no position of
 * their own (the pipeline numbers them in arrival order).
 */
export const webSocketClientSource = ({
  url,
  headers = {},
  initialReconnectMs = 500,
  maxReconnectMs = 30_000,
  heartbeatMs = 30_000,
  resume,
  onEvent = () => {},
  paused$ = of(false),
}: WebSocketClientSourceOptions): Observable<InboundMessage> =>
  new Observable<InboundMessage>((subscriber) => {
    let socket: WebSocket | undefined;
    let reconnectTimer: NodeJS.Timeout | undefined;
    let heartbeat: NodeJS.Timeout | undefined;
    let attempt = 0;
    let stopped = false;
    let paused = false;
    let heardAt = Date.now();
    let lastId: string | undefined;

    const applyPause = (): void => {
      if (socket?.readyState !== WebSocket.OPEN) return;
      if (paused && !socket.isPaused) socket.pause();
      if (!paused && socket.isPaused) {
        heardAt = Date.now(); // silence while paused was ours, not the feed's
        socket.resume();
      }
    };
    const pauseSubscription = paused$.subscribe((value) => {
      paused = value;
      applyPause();
    });

    const connect = (): void => {
      const target = resume && lastId !== undefined ? withQuery(url, resume.query, lastId) : url;
      onEvent({ type: 'connecting', attempt, url: target });
      const current = new WebSocket(target, { headers: { ...headers } });
      socket = current;
      const heard = (): void => {
        heardAt = Date.now();
      };
      current.on('open', () => {
        attempt = 0;
        heard();
        applyPause();
        onEvent({ type: 'connected' });
        heartbeat = setInterval(() => {
          if (paused) return;
          const silentMs = Date.now() - heardAt;
          if (silentMs > 2 * heartbeatMs) {
            onEvent({ type: 'unresponsive', silentMs });
            current.terminate();
            return;
          }
          current.ping();
        }, heartbeatMs);
      });
      current.on('pong', heard);
      current.on('message', (data) => {
        heard();
        if (resume) lastId = idOf(data, resume.idField) ?? lastId;
        subscriber.next({ data });
      });
      current.on('error', (error) => onEvent({ type: 'error', error }));
      current.on('close', (code, reason) => {
        clearInterval(heartbeat);
        if (stopped) return;
        attempt += 1;
        const retryInMs = backoffMs(attempt, { baseMs: initialReconnectMs, maxMs: maxReconnectMs });
        onEvent({ type: 'disconnected', code, reason: reason.toString('utf8'), retryInMs });
        reconnectTimer = setTimeout(connect, retryInMs);
      });
    };

    connect();
    return () => {
      stopped = true;
      pauseSubscription.unsubscribe();
      clearTimeout(reconnectTimer);
      clearInterval(heartbeat);
      // A paused socket never reads the feed's answer to our close frame, and ws would wait 30 s for it.
      if (socket?.isPaused) socket.resume();
      socket?.close(1000, 'pipeline stopping');
    };
  });
