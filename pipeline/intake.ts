import { hostname } from 'node:os';
import { EMPTY, catchError, defer, from, mergeMap, Observable, retry, Subject, timer, type Subscription } from 'rxjs';
import type { InboundMessage } from '../adapters/inbound-message.js';
import type { Redis } from '../adapters/redis/connection.js';
import { StreamJournal } from '../adapters/redis/journal.js';
import { redisStreamGroupSource, type StreamSourceEvent } from '../adapters/redis/stream-group-source.js';
import { webSocketClientSource, type ConnectionEvent } from '../adapters/websocket/client-source.js';
import { WebSocketListenSource, type ListenEvent, type ProducedMessage } from '../adapters/websocket/listen-source.js';
import type { Config } from './config/codec.js';
import type { Capacity } from './credit.js';
import type { Logger } from './logger.js';
import { IntakeValve, type ValveChange } from './valve.js';

/** Whether the source can deliver input now, and if not, why: for `/readyz`. */
export class SourceHealth {
  connected = false;
  why = 'not started';

  mark(connected: boolean, why: string): void {
    this.connected = connected;
    this.why = why;
  }
}

/** Where the pipeline's input comes from, ready to subscribe. */
export interface Intake {
  readonly sourceName: string;
  readonly source: Observable<InboundMessage>;
  readonly health: SourceHealth;
  /** Pauses of the WebSocket intake in front of a journal (journal full, Redis down), for metrics. */
  readonly journalChanges$: Observable<ValveChange>;
  /** Closes what the intake opened (a listening server, the journal's writer). */
  close(): Promise<void>;
}

export interface IntakeContext {
  readonly logger: Logger;
  readonly redis: Redis | undefined;
  /** The pipeline's valve (credit, destination): gates what the pipeline takes in. */
  readonly valve: IntakeValve;
  readonly credit: Capacity;
}

/** A consumer name unique to this process, stable for its life. */
export const defaultConsumer = (): string => `${hostname()}-${process.pid}`;

const toBuffer = (data: unknown): Buffer =>
  Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data as Buffer[]) : data instanceof ArrayBuffer ? Buffer.from(data) : Buffer.from(String(data));

const logConnection =
  (logger: Logger, url: string, health: SourceHealth) =>
  (event: ConnectionEvent): void => {
    switch (event.type) {
      case 'connecting':
        if (event.attempt === 0) logger.info({ url }, 'connecting to the feed');
        return;
      case 'connected':
        health.mark(true, `connected to ${url}`);
        return logger.info({ url }, 'connected to the feed');
      case 'disconnected':
        health.mark(false, `disconnected from ${url} (${event.code}); reconnecting`);
        return logger.warn({ url, code: event.code, reason: event.reason, retryInMs: event.retryInMs }, 'feed disconnected; reconnecting');
      case 'unresponsive':
        return logger.warn({ url, silentMs: event.silentMs }, 'feed stopped answering pings; reconnecting');
      case 'error':
        return logger.warn({ url, error: event.error.message }, 'feed connection error');
    }
  };

const logListen =
  (logger: Logger, health: SourceHealth) =>
  (event: ListenEvent): void => {
    if (event.type === 'listening') health.mark(true, `listening on ${event.url}`);
    if (event.type === 'listening') logger.info({ url: event.url }, 'listening for producers');
    else if (event.type === 'producer-refused') logger.warn({ status: event.status, why: event.why }, 'producer refused');
    else if (event.type === 'error') logger.warn({ error: event.error.message }, 'producer connection error');
    else logger.info(event, event.type === 'producer-connected' ? 'producer connected' : 'producer disconnected');
  };

const logStream =
  (logger: Logger, stream: string, health: SourceHealth) =>
  (event: StreamSourceEvent): void => {
    health.mark(event.type !== 'error', event.type === 'error' ? `reading ${stream} failed: ${event.error.message}` : `reading ${stream}`);
    if (event.type === 'error') logger.warn({ stream, error: event.error.message }, 'stream read error; retrying');
    else if (event.type === 'claimed') logger.info({ stream, count: event.count }, 'claimed entries another consumer left pending');
    else logger.info(event, 'consumer group created');
  };

/** The raw WebSocket input (client or listen), paused by `paused$`, and how to close it. */
const openWebSocket = async (
  config: Config,
  logger: Logger,
  paused$: Observable<boolean>,
  ackWhen: 'settled' | 'manual',
  health: SourceHealth,
): Promise<{ messages$: Observable<ProducedMessage>; close(): Promise<void> }> => {
  const websocket = config.source.websocket!;
  if (websocket.listen) {
    const { listen } = websocket;
    const server = await WebSocketListenSource.start({
      host: listen.host,
      port: listen.port,
      path: listen.path,
      token: listen.token.reveal(),
      maxPayloadBytes: listen.maxPayloadBytes,
      paused$,
      ackWhen,
      onEvent: logListen(logger, health),
    });
    return { messages$: server.messages$, close: () => server.close() };
  }
  const url = websocket.url!;
  const headers = Object.fromEntries(Object.entries(websocket.headers ?? {}).map(([name, value]) => [name, value.reveal()]));
  return {
    messages$: webSocketClientSource({
      url,
      headers,
      heartbeatMs: websocket.heartbeatSeconds * 1000,
      ...(websocket.resume ? { resume: websocket.resume } : {}),
      onEvent: logConnection(logger, url, health),
      paused$,
    }),
    close: async () => {},
  };
};

const JOURNAL_BACKLOG = 1000;

/**
 * Appends every WebSocket message to the journal, in arrival order (autopipelined XADDs keep it), and
 * answers producers that asked for acknowledgements once their message is appended. A failing append
 * is retried every second with the intake paused; the producer hears nothing until it succeeds.
 */
const journalWebSocket = (
  messages$: Observable<ProducedMessage>,
  journal: StreamJournal,
  journalValve: IntakeValve,
  logger: Logger,
  trimNow: () => void,
): Subscription => {
  let pending = 0;
  return messages$
    .pipe(
      mergeMap((message) => {
        pending += 1;
        if (pending >= JOURNAL_BACKLOG) journalValve.close('journal-backlog', `${pending} appends waiting for Redis`);
        return defer(() => from(journal.append(toBuffer(message.data)))).pipe(
          retry({
            delay: (error: Error) => {
              journalValve.close('journal-unavailable', `appending to the journal failed: ${error.message}`);
              logger.warn({ error: error.message }, 'journal append failed; retrying');
              return timer(1000);
            },
          }),
          mergeMap(() => {
            pending -= 1;
            if (pending < JOURNAL_BACKLOG / 2) journalValve.open('journal-backlog');
            journalValve.open('journal-unavailable');
            // Checked on every append, not only at the next trim: the journal must not run far past maxLength.
            if (journal.full) {
              journalValve.close('journal-full', `the journal holds ${journal.maxLength} entries the pipeline has not finished`);
              trimNow();
            }
            message.reply?.(true);
            return EMPTY;
          }),
          catchError(() => EMPTY),
        );
      }),
    )
    .subscribe();
};

/**
 * Builds the intake a config describes:
 * - `source.websocket` alone: the pipeline reads the WebSocket, paused by its valve.
 * - with `journal`: the WebSocket is appended to the journal stream (paused only when the journal
 *   is full or Redis is down), and the pipeline consumes the journal as a consumer group.
 * - `source.redisStream`: the pipeline consumes that stream as a consumer group.
 */
export const openIntake = async (config: Config, { logger, redis, valve, credit }: IntakeContext): Promise<Intake> => {
  const health = new SourceHealth();
  const valveChanges = new Subject<ValveChange>();
  const journalChanges$ = valveChanges.asObservable();
  const groupSource = (stream: string, group: string, field: string, consumer: string | undefined, startId: string, claimIdleSeconds: number) =>
    redisStreamGroupSource({
      redis: redis!,
      stream,
      group,
      consumer: consumer ?? defaultConsumer(),
      field,
      startId,
      claimIdleMs: claimIdleSeconds * 1000,
      ...credit,
      onEvent: logStream(logger, stream, health),
    });

  if (config.source.redisStream) {
    const s = config.source.redisStream;
    health.mark(true, `reading ${s.stream}`);
    return {
      sourceName: `redis:${s.stream}`,
      source: groupSource(s.stream, s.group, s.field, s.consumer, s.startId, s.claimIdleSeconds),
      health,
      journalChanges$,
      close: async () => {},
    };
  }

  if (!config.journal) {
    const websocket = await openWebSocket(config, logger, valve.closed$, 'settled', health);
    return { sourceName: 'websocket', source: websocket.messages$, health, journalChanges$, close: () => websocket.close() };
  }

  const { journal: j } = config;
  const journalValve = new IntakeValve();
  journalValve.changes$.subscribe((change) => valveChanges.next(change));
  journalValve.changes$.subscribe((change) =>
    change.kind === 'closed' ? logger.warn({ reason: change.reason }, `WebSocket intake paused: ${change.message}`) : logger.info({ reason: change.reason }, 'WebSocket intake resumed'),
  );
  const journal = new StreamJournal({ redis: redis!, stream: j.stream, group: j.group, field: 'profile', ...(j.maxLength ? { maxLength: j.maxLength } : {}) });
  // The group must exist before the first append, so nothing appended is missed (a new group starts at `$`).
  await redis!.xgroup('CREATE', j.stream, j.group, '$', 'MKSTREAM').catch((error: Error) => {
    if (!error.message.startsWith('BUSYGROUP')) throw error;
  });
  const websocket = await openWebSocket(config, logger, journalValve.closed$, 'manual', health);
  const afterTrim = (full: boolean): void =>
    full ? journalValve.close('journal-full', `the journal holds ${j.maxLength} entries the pipeline has not finished`) : journalValve.open('journal-full');
  let trimInProgress: Promise<unknown> | undefined;
  // A full journal is trimmed at once (what was acknowledged goes), not only on the next tick.
  const trimNow = (): void => {
    trimInProgress ??= journal
      .trim()
      .then(afterTrim, () => {})
      .finally(() => (trimInProgress = undefined));
  };
  const appending = journalWebSocket(websocket.messages$, journal, journalValve, logger, trimNow);
  const trimming = journal.trimming().subscribe(afterTrim);
  return {
    sourceName: `journal:${j.stream}`,
    source: groupSource(j.stream, j.group, 'profile', j.consumer, '$', j.claimIdleSeconds),
    health,
    journalChanges$,
    close: async () => {
      appending.unsubscribe();
      trimming.unsubscribe();
      await websocket.close();
    },
  };
};
