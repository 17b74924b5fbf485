import { DESTINATION_DOWN } from '../operators/model/circuit-breaker.js';
import { DESTINATION_REJECTED } from '../operators/emit.js';
import { CREDIT, flowCredit } from './credit.js';
import { hostname } from 'node:os';
import { combineLatest, distinctUntilChanged, EMPTY, map, type Observable } from 'rxjs';
import type { InboundMessage } from '../adapters/inbound-message.js';
import type { Redis } from '../adapters/redis/connection.js';
import { StreamJournal } from '../adapters/redis/journal.js';
import { redisStreamGroupSource, type StreamSourceEvent } from '../adapters/redis/stream-group-source.js';
import { webSocketClientSource, type ConnectionEvent } from '../adapters/websocket/client-source.js';
import { WebSocketListenSource, type ListenEvent, type ProducedMessage } from '../adapters/websocket/listen-source.js';
import type { Config, FlowConfig, HttpSourceConfig, WebSocketSourceConfig } from './config/codec.js';
import { HttpIntakeServer } from '../adapters/http/intake-server.js';
import { authenticationOf, storeThrough, tlsFiles } from './intake/http-intake.js';
import type { Capacity } from './credit.js';
import type { Logger } from './logger.js';
import { IntakeValve } from './valve.js';
import { JournalWriter } from './intake/journal-writer.js';
import { identityKeysOf } from './intake/identity-keys.js';
import type { RedisTurnBook } from '../adapters/redis/turn-book.js';
import { streamRelay } from '../adapters/redis/stream-relay.js';
import { basePrefixOf } from './config/paths.js';
import { fanOut } from './intake/fan-out.js';
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

/** One flow's input, ready to subscribe. */
export interface FlowInput {
  /** Names the source in every envelope's origin (`websocket`, `redis:<stream>`, `journal:<stream>`). */
  readonly sourceName: string;
  readonly source: Observable<InboundMessage>;
  /** Whether what is in flight stays in the source when the process stops (a stream: yes; a plain WebSocket: no). */
  readonly durable: boolean;
  readonly sourceHealth: SourceHealth;
}

/** Where every flow's input comes from. */
export interface Intake {
  /** One per flow given to `openIntake`, in the same order. */
  readonly flows: readonly FlowInput[];
  /** Pauses of the WebSocket intake in front of a journal (journal full, Redis down): for metrics and readiness. */
  readonly pauses: IntakeValve;
  /** With several flows behind a journal: the WebSocket feed's own health (each flow's is its consumer group's). */
  readonly feedHealth?: SourceHealth;
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

/** What the intake needs of each flow it feeds. */
export interface IntakeFlow {
  readonly flow: FlowConfig;
  /** The flow's valve (credit, destination): gates what the flow takes in. */
  readonly valve: IntakeValve;
  /** Updates the flow holds now. */
  readonly inFlight: () => number;
  readonly credit: Capacity;
  /** Where poison stream entries go. */
  readonly deadLetters: DeadLetterStore;
  /** People's lines in Redis: the journal numbers each person's updates, the flow's source finishes them. */
  readonly turnBook: RedisTurnBook | undefined;
}

export interface IntakeContext {
  readonly logger: Logger;
  readonly redis: Redis | undefined;
  readonly flows: readonly IntakeFlow[];
  /** Names people in the journal's lines and entries (a keyed hash of their identity). */
  readonly nameOf?: ((identityKey: string) => Promise<string>) | undefined;
  /** Every answer of an HTTP intake, by status: for the metrics. */
  readonly onAnswer?: ((status: number) => void) | undefined;
}

/**
 * A flow's consumer group on a shared stream: the configured group in the one-flow form (as before
 * flows), `<group>:<flow>` with several, so each flow has its own position, pending entries and pace.
 */
export const groupOf = (config: Config, flow: FlowConfig, group: string): string =>
  config.singleFlowForm ? group : `${group}:${flow.name}`;

/** Why a flow cannot send: with a shared feed, such a flow sheds past its share instead of pausing the feed. */
const SHEDDING: ReadonlySet<string> = new Set([DESTINATION_REJECTED, DESTINATION_DOWN]);

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
 * Builds the intake a config describes, for its enabled flows:
 * - `source.websocket` alone: the feed is read once and offered to every flow (`fanOut`); a message is
 *   acknowledged once every flow settled it, and the feed pauses while any flow's valve is closed.
 * - with `journal`: the WebSocket (or `source.redisStream`, relayed) is appended to the journal stream
 *   once (paused only when the journal is full, Redis refuses appends, or appends back up), and each
 *   flow consumes the journal as its own consumer group.
 * - `source.redisStream`: each flow consumes that stream as its own consumer group.
 * Nothing here waits for Redis: an outage at start is waited out by the sources, and shows in the health.
 */
export const openIntake = async (
  config: Config,
  { logger, redis, flows, onAnswer, nameOf }: IntakeContext,
): Promise<Intake> => {
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
  const groupSource = (
    { flow, credit, deadLetters, turnBook }: IntakeFlow,
    sourceName: string,
    stream: string,
    group: string,
    field: string,
    settings: GroupSettings,
    sourceHealth = new SourceHealth(),
  ): FlowInput => {
    sourceHealth.mark(false, `connecting to Redis to read ${stream}`);
    const source = redisStreamGroupSource({
      redis: needRedis(sourceName),
      stream,
      group: groupOf(config, flow, group),
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
      onEvent: logStream(logger.child({ flow: flow.name }), stream, sourceHealth),
    });
    return { sourceName, source, durable: true, sourceHealth };
  };

  const { source } = config;
  if (!config.journal) {
    if (source.redisStream) {
      const { stream, group, field } = source.redisStream;
      return {
        flows: flows.map((flow) =>
          groupSource(flow, `redis:${stream}`, stream, group, field, {
            ...source.redisStream,
            deleteAcknowledged: false,
          }),
        ),
        pauses,
        close: async () => 0,
      };
    }
    const health = new SourceHealth();
    // The feed is shared (see README, "Flows"): it pauses while any flow is full or its store is down;
    // a flow that cannot send takes its share, and past it dead-letters its copies instead of holding them.
    const share = flowCredit(config, flows.length);
    // One flow alone sheds nothing: whatever closes its valve pauses the feed, as before flows. With
    // several, a flow that cannot send sheds past its share instead: neither that, nor its full credit
    // (its share), holds the feed; anything else (its own store down, a busy flow's credit) does.
    const holds = (reasons: ReadonlySet<string>): boolean => {
      if (flows.length === 1) return reasons.size > 0;
      const stuck = [...reasons].some((reason) => SHEDDING.has(reason));
      return [...reasons].some((reason) => !SHEDDING.has(reason) && !(stuck && reason === CREDIT));
    };
    const holding$ = combineLatest(flows.map(({ valve }) => valve.closedBy$(holds))).pipe(
      map((closed) => closed.some(Boolean)),
      distinctUntilChanged(),
    );
    const sheds = flows.map(
      ({ valve, inFlight }) =>
        () =>
          inFlight() >= share && [...valve.reasons.keys()].some((reason) => SHEDDING.has(reason)),
    );
    // The codec refuses an HTTP intake without a journal (AEP's exports are stored before they are answered).
    if (!source.websocket) throw new Error('source.http needs journal');
    const websocket = await openWebSocket(source.websocket, logger, holding$, 'settled', health);
    const outlets = fanOut(websocket.messages$, flows.length, flows.length > 1 ? sheds : []);
    return {
      flows: outlets.map((outlet) => ({
        sourceName: 'websocket',
        source: outlet,
        durable: false,
        sourceHealth: health,
      })),
      pauses,
      close: () => websocket.close().then(() => 0),
    };
  }

  const { journal: j } = config;
  const health = new SourceHealth();
  const numbering = flows.find(({ turnBook }) => turnBook !== undefined)?.turnBook;
  const journal = new StreamJournal({
    redis: needRedis('journal'),
    stream: j.stream,
    groups: flows.map(({ flow }) => groupOf(config, flow, j.group)),
    field: 'profile',
    ...(j.maxLength ? { maxLength: j.maxLength } : {}),
    ...(numbering ? { linePrefix: numbering.linePrefix } : {}),
    ...(nameOf ? { nameOf } : {}),
  });
  // People are numbered by the first flow's identities: each flow's updates then keep that person's order.
  const writer = new JournalWriter(journal, pauses, logger, { keysOf: identityKeysOf(flows[0]!.flow.identities) });
  const input = source.redisStream
    ? relayInto(source.redisStream, needRedis('source.redisStream'), basePrefixOf(config), pauses, logger)
    : source.http
      ? await openHttp(source.http, {
          writer,
          pauses,
          health,
          logger,
          redis: needRedis('source.http'),
          config,
          onAnswer,
        })
      : await openWebSocket(source.websocket, logger, pauses.closed$, 'manual', health);
  const appending = input.messages$.subscribe((message) => writer.write(message));
  const settings = { ...j, startId: '$', deleteAcknowledged: j.maxLength !== undefined };
  return {
    // With maxLength the journal holds only what is still to do: an entry goes once every flow finished it.
    // One flow: the feed and the journal share one health, as before flows; several: the feed has its own.
    flows: flows.map((flow) =>
      groupSource(
        flow,
        `journal:${j.stream}`,
        j.stream,
        j.group,
        'profile',
        settings,
        config.singleFlowForm ? health : undefined,
      ),
    ),
    ...(config.singleFlowForm || source.redisStream ? {} : { feedHealth: health }),
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

/**
 * The HTTP(S) intake AEP posts to, in front of the journal: each body answered once it is stored. Its
 * input is the server itself (it writes to the journal directly), so its stream of messages is empty.
 */
const openHttp = async (
  http: HttpSourceConfig,
  context: {
    readonly writer: JournalWriter;
    readonly pauses: IntakeValve;
    readonly health: SourceHealth;
    readonly logger: Logger;
    readonly redis: Redis;
    readonly config: Config;
    readonly onAnswer: ((status: number) => void) | undefined;
  },
): Promise<{ messages$: Observable<ProducedMessage>; close(): Promise<void> }> => {
  const { writer, pauses, health, logger, redis, config, onAnswer } = context;
  const { authorize, token } = await authenticationOf(http.auth, redis, `${basePrefixOf(config)}:oauth-key`);
  // Read before binding: a missing file is named by its own key, not blamed on the port.
  const tls = http.tls ? tlsFiles(http.tls) : undefined;
  const server = await bindOrExplain('source.http.port', http, () =>
    HttpIntakeServer.start({
      host: http.host,
      port: http.port,
      path: http.path,
      maxBodyBytes: http.maxBodyBytes,
      maxConnections: http.maxConnections,
      requestTimeoutMs: http.requestTimeoutMs,
      ...(tls ? { tls } : {}),
      authorize,
      ...(token ? { token } : {}),
      // Answered before AEP's client gives up, so it retries rather than times out.
      store: storeThrough(writer, pauses, Math.max(1000, http.requestTimeoutMs - 5000)),
      ...(onAnswer ? { onAnswer } : {}),
    }),
  );
  health.mark(true, `listening on ${server.url}`);
  logger.info({ url: server.url }, 'listening for Adobe Experience Platform');
  return { messages$: EMPTY, close: () => server.close() };
};
