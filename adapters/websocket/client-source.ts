import { Observable, of } from 'rxjs';
import WebSocket from 'ws';
import type { InboundMessage } from '../inbound-message.js';


/** What the connection is doing, for logs and readiness. */
export type ConnectionEvent =
  | { readonly type: 'connecting'; readonly attempt: number }
  | { readonly type: 'connected' }
  | { readonly type: 'disconnected'; readonly code: number; readonly reason: string; readonly retryInMs: number }
  | { readonly type: 'error'; readonly error: Error };

export interface WebSocketClientSourceOptions {
  readonly url: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** First reconnect delay; doubles on each failed attempt up to `maxReconnectMs`, with jitter. */
  readonly initialReconnectMs?: number;
  readonly maxReconnectMs?: number;
  readonly onEvent?: (event: ConnectionEvent) => void;
  /** While true, the socket is not read: the feed's sends back up in TCP instead of in this process. */
  readonly paused$?: Observable<boolean>;
}

/** Exponential backoff with jitter: a random delay in [half, full] of the doubled base, so a fleet does not reconnect in step. */
export const backoffDelay = (attempt: number, initialMs: number, maxMs: number, random = Math.random): number => {
  const full = Math.min(maxMs, initialMs * 2 ** attempt);
  return Math.round(full / 2 + (random() * full) / 2);
};

/**
 * Connects to a feed as a WebSocket client and emits every message it sends. A dropped connection is
 * reconnected with exponential backoff and jitter until the observable is unsubscribed. Messages carry no
 * position of their own (the pipeline numbers them in arrival order). A plain feed has no resume point,
 * so what the feed sent while the connection was down is the feed's to resend.
 */
export const webSocketClientSource = ({
  url,
  headers = {},
  initialReconnectMs = 500,
  maxReconnectMs = 30_000,
  onEvent = () => {},
  paused$ = of(false),
}: WebSocketClientSourceOptions): Observable<InboundMessage> =>
  new Observable<InboundMessage>((subscriber) => {
    let socket: WebSocket | undefined;
    let reconnectTimer: NodeJS.Timeout | undefined;
    let attempt = 0;
    let stopped = false;
    let paused = false;

    const applyPause = (): void => {
      if (socket?.readyState !== WebSocket.OPEN) return;
      if (paused && !socket.isPaused) socket.pause();
      if (!paused && socket.isPaused) socket.resume();
    };
    const pauseSubscription = paused$.subscribe((value) => {
      paused = value;
      applyPause();
    });

    const connect = (): void => {
      onEvent({ type: 'connecting', attempt });
      const current = new WebSocket(url, { headers: { ...headers } });
      socket = current;
      current.on('open', () => {
        attempt = 0;
        applyPause();
        onEvent({ type: 'connected' });
      });
      current.on('message', (data) => subscriber.next({ data }));
      current.on('error', (error) => onEvent({ type: 'error', error }));
      current.on('close', (code, reason) => {
        if (stopped) return;
        const retryInMs = backoffDelay(attempt, initialReconnectMs, maxReconnectMs);
        attempt += 1;
        onEvent({ type: 'disconnected', code, reason: reason.toString('utf8'), retryInMs });
        reconnectTimer = setTimeout(connect, retryInMs);
      });
    };

    connect();
    return () => {
      stopped = true;
      pauseSubscription.unsubscribe();
      clearTimeout(reconnectTimer);
      socket?.close(1000, 'pipeline stopping');
    };
  });
