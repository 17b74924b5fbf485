import { hostname } from 'node:os';
import type { Observable } from 'rxjs';
import type { InboundMessage } from '../adapters/inbound-message.js';
import type { Redis } from '../adapters/redis/connection.js';
import { StreamJournal } from '../adapters/redis/journal.js';
import { redisStreamGroupSource, type StreamSourceEvent } from '../adapters/redis/stream-group-source.js';
import { webSocketClientSource, type ConnectionEvent } from '../adapters/websocket/client-source.js';
import { WebSocketListenSource, type ListenEvent, type ProducedMessage } from '../adapters/websocket/listen-source.js';
import type { Config, WebSocketSourceConfig } from './config/codec.js';
import type { Capacity } from './credit.js';
import type { Logger } from './logger.js';
import { IntakeValve } from './valve.js';
import { JournalWriter } from './intake/journal-writer.js';
import { identityKeysOf } from './intake/identity-keys.js';
import type { RedisTurnBook } from '../adapters/redis/turn-book.js';
import { streamRelay } from '../adapters/redis/stream-relay.js';
import { redisPrefixOf } from './config/paths.js';
import { bindOrExplain } from './start-error.js';
import type { DeadLetterStore } from '../operators/model/ports.js';

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
  /** Whether what is in flight stays in the source when the process stops (a stream: yes; a plain WebSocket: no). */
  readonly durable: boolean;
  readonly health: SourceHealth;
  /** Pauses of the WebSocket intake in front of a journal (journal full, Redis down): for metrics and readiness. */
  readonly pauses: IntakeValve;
  /**
   * Closes what the intake opened (a listening server, the journal's writer). Resolves with the number
   * of messages received and lost in closing (taken from a plain feed, not yet journaled).
   */
  close(): Promise<number>;
}

/** What a consumer-group source of a config needs beyond its stream, group and field. */
interface GroupSettings {
  readonly consumer?: string | undefined;
  readonly startId: string;
  readonly claimIdleSeconds: number;
  readonly maxDeliveries: number;
  readonly deleteAcknowledged: boolean;
}

export interface IntakeContext {
  readonly logger: Logger;
  readonly redis: Redis | undefined;
  /** The pipeline's valve (credit, destination): gates what the pipeline takes in. */
  readonly valve: IntakeValve;
  readonly credit: Capacity;
  /** Where poison stream entries go. */
  readonly deadLetters: DeadLetterStore;
  /** People's lines in Redis: the journal numbers each person's updates, the source finishes them. */
  readonly turnBook: RedisTurnBook | undefined;
}

/** A consumer name unique to this process, stable for its life. */
export const defaultConsumer = (): string => `${hostname()}-${process.pid}`;

const logConnection =
  (logger: Logger, url: string, health: SourceHealth) =>
  (event: ConnectionEvent): void => {
    switch (event.type) {
      case 'connecting':
        if (event.attempt === 0) logger.info({ url }, 'connecting to the feed');
        return;
      case 'connected':
        health.mark(true, `connected to ${url}`);
        logger.info({ url }, 'connected to the feed');
        return;
      case 'disconnected':
        health.mark(false, `disconnected from ${url} (${event.code}); reconnecting`);
        logger.warn(
          { url, code: event.code, reason: event.reason, retryInMs: event.retryInMs },
          'feed disconnected; reconnecting',
        );
        return;
      case 'unresponsive':
        logger.warn({ url, silentMs: event.silentMs }, 'feed stopped answering pings; reconnecting');
        return;
      case 'error':
        logger.warn({ url, error: event.error.message }, 'feed connection error');
        return;
    }
  };

const logListen =
  (logger: Logger, health: SourceHealth) =>
  (event: ListenEvent): void => {
    if (event.type === 'listening') health.mark(true, `listening on ${event.url}`);
    if (event.type === 'listening') logger.info({ url: event.url }, 'listening for producers');
    else if (event.type === 'producer-refused')
      logger.warn({ status: event.status, why: event.why }, 'producer refused');
    else if (event.type === 'error') logger.warn({ error: event.error.message }, 'producer connection error');
    else logger.info(event, event.type === 'producer-connected' ? 'producer connected' : 'producer disconnected');
  };

const logStream =
  (logger: Logger, stream: string, health: SourceHealth) =>
  (event: StreamSourceEvent): void => {
    switch (event.type) {
      case 'reading':
        health.mark(true, `reading ${stream}`);
        logger.info({ stream }, 'reading the stream');
        return;
      case 'outage':
        health.mark(false, `Redis unreachable while reading ${stream} (${event.error.message}); retrying`);
        logger.warn({ stream, error: event.error.message, retryInMs: event.retryInMs }, 'Redis unreachable; retrying');
        return;
      case 'error':
        logger.warn({ stream, error: event.error.message }, 'stream command failed');
        return;
      case 'claimed':
        logger.info({ stream, count: event.count }, 'claimed entries another consumer left pending');
        return;
      case 'poison':
        logger.error(
          { stream, id: event.id, deliveries: event.deliveries },
          'entry handed out too often without an outcome: dead-lettered as poison',
        );
        return;
      case 'consumer-removed':
        logger.info({ stream, consumer: event.consumer }, 'removed a consumer that left the group');
        return;
      case 'group-created':
        logger.info(event, 'consumer group created');
        return;
    }
  };

/** The raw WebSocket input (client or listen), paused by `paused$`, and how to close it. */
const openWebSocket = async (
  websocket: WebSocketSourceConfig,
  logger: Logger,
  paused$: Observable<boolean>,
  ackWhen: 'settled' | 'manual',
  health: SourceHealth,
): Promise<{ messages$: Observable<ProducedMessage>; close(): Promise<void> }> => {
  if ('listen' in websocket) {
    const { listen } = websocket;
    const address = { host: listen.host, port: listen.port };
    const server = await bindOrExplain('source.websocket.listen.port', address, () =>
      WebSocketListenSource.start({
        host: listen.host,
        port: listen.port,
        path: listen.path,
        token: listen.token.reveal(),
        maxPayloadBytes: listen.maxPayloadBytes,
        paused$,
        ackWhen,
        onEvent: logListen(logger, health),
      }),
    );
    return { messages$: server.messages$, close: () => server.close() };
  }
  const { url } = websocket;
  const headers = Object.fromEntries(
    Object.entries(websocket.headers ?? {}).map(([name, value]) => [name, value.reveal()]),
  );
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

/**
 * Builds the intake a config describes:
 * - `source.websocket` alone: the pipeline reads the WebSocket, paused by its valve.
 * - with `journal`: the WebSocket is appended to the journal stream (paused only when the journal
 *   is full, Redis refuses appends, or appends back up), and the pipeline consumes the journal as a
 *   consumer group.
 * - `source.redisStream`: the pipeline consumes that stream as a consumer group.
 * Nothing here waits for Redis: an outage at start is waited out by the sources, and shows in `health`.
 */
export const openIntake = async (
  config: Config,
  { logger, redis, valve, credit, deadLetters, turnBook }: IntakeContext,
): Promise<Intake> => {
  const health = new SourceHealth();
  const pauses = new IntakeValve();
  pauses.changes$.subscribe((change) =>
    change.kind === 'closed'
      ? logger.warn({ reason: change.reason }, `WebSocket intake paused: ${change.message}`)
      : logger.info({ reason: change.reason }, 'WebSocket intake resumed'),
  );
  // The config codec refuses a stream or a journal without redis.url; this says so if that ever changes.
  const needRedis = (what: string): Redis => {
    if (!redis) throw new Error(`${what} needs redis.url`);
    return redis;
  };
  const groupSource = (sourceName: string, stream: string, group: string, field: string, settings: GroupSettings) =>
    redisStreamGroupSource({
      redis: needRedis(sourceName),
      stream,
      group,
      consumer: settings.consumer ?? defaultConsumer(),
      field,
      startId: settings.startId,
      claimIdleMs: settings.claimIdleSeconds * 1000,
      maxDeliveries: settings.maxDeliveries,
      deleteAcknowledged: settings.deleteAcknowledged,
      ...(turnBook ? { turnBook } : {}),
      onPoison: (entry) =>
        Promise.resolve(
          deadLetters.add({
            at: new Date().toISOString(),
            reason: 'poison',
            response: `handed out ${entry.deliveries} times without an outcome`,
            attempts: entry.deliveries,
            payload: entry.data ?? '',
            source: sourceName,
            position: entry.id,
          }),
        ),
      ...credit,
      onEvent: logStream(logger, stream, health),
    });

  const { source } = config;
  if (!config.journal) {
    if (source.redisStream) {
      const sourceName = `redis:${source.redisStream.stream}`;
      health.mark(false, `connecting to Redis to read ${source.redisStream.stream}`);
      const { stream, group, field } = source.redisStream;
      return {
        sourceName,
        durable: true,
        source: groupSource(sourceName, stream, group, field, { ...source.redisStream, deleteAcknowledged: false }),
        health,
        pauses,
        close: async () => 0,
      };
    }
    const websocket = await openWebSocket(source.websocket, logger, valve.closed$, 'settled', health);
    return {
      sourceName: 'websocket',
      durable: false,
      source: websocket.messages$,
      health,
      pauses,
      close: () => websocket.close().then(() => 0),
    };
  }

  const { journal: j } = config;
  const journal = new StreamJournal({
    redis: needRedis('journal'),
    stream: j.stream,
    group: j.group,
    field: 'profile',
    ...(j.maxLength ? { maxLength: j.maxLength } : {}),
    ...(turnBook ? { linePrefix: turnBook.linePrefix } : {}),
  });
  const writer = new JournalWriter(journal, pauses, logger, { keysOf: identityKeysOf(config.identities) });
  const input = source.redisStream
    ? relayInto(source.redisStream, needRedis('source.redisStream'), redisPrefixOf(config), pauses, logger)
    : await openWebSocket(source.websocket, logger, pauses.closed$, 'manual', health);
  const appending = input.messages$.subscribe((message) => writer.write(message));
  const sourceName = `journal:${j.stream}`;
  return {
    sourceName,
    durable: true,
    // With maxLength the journal holds only what is still to do: each entry goes once acknowledged.
    source: groupSource(sourceName, j.stream, j.group, 'profile', {
      ...j,
      startId: '$',
      deleteAcknowledged: j.maxLength !== undefined,
    }),
    health,
    pauses,
    close: async () => {
      appending.unsubscribe();
      await input.close();
      return writer.close();
    },
  };
};

/** A Redis stream the program does not write, relayed into the journal by one process at a time. */
const relayInto = (
  source: NonNullable<Config['source']['redisStream']>,
  redis: Redis,
  prefix: string,
  pauses: IntakeValve,
  logger: Logger,
): { messages$: Observable<ProducedMessage>; close(): Promise<void> } => ({
  messages$: streamRelay({
    redis,
    stream: source.stream,
    group: source.group,
    field: source.field,
    startId: source.startId,
    lockKey: `${prefix}:relay:${source.stream}`,
    paused$: pauses.closed$,
    onEvent: (event) => {
      if (event.type === 'outage')
        logger.warn({ stream: source.stream, error: event.error.message }, 'relay: Redis unreachable');
      else
        logger.info(
          { stream: source.stream },
          event.type === 'leading' ? 'relaying the stream into the journal' : 'another process relays the stream',
        );
    },
  }),
  close: async () => {},
});
