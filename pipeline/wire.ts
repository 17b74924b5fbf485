import type { Observable } from 'rxjs';
import type { InboundMessage } from '../adapters/inbound-message.js';
import { DeadLetterFile } from '../adapters/file/dead-letter-file.js';
import { MemoryDedupeStore } from '../adapters/memory/dedupe-store.js';
import { MemoryDeliveryLog } from '../adapters/memory/delivery-log.js';
import { MemoryRateLimiter } from '../adapters/memory/rate-limiter.js';
import { QualtricsHttpSender, type QualtricsAuth } from '../adapters/qualtrics/http-sender.js';
import { webSocketClientSource, type ConnectionEvent } from '../adapters/websocket/client-source.js';
import type { OperatorContext } from '../operators/model/define.js';
import { compareOrder } from '../operators/model/order.js';
import { IntakeValve } from './valve.js';
import type { Config } from './config/codec.js';
import type { Logger } from './logger.js';

/** The adapters a config asks for, ready to inject. */
export interface Wiring {
  readonly sourceName: string;
  readonly source: Observable<InboundMessage>;
  readonly context: OperatorContext;
  /** Closed by the operators (and the credit) to stop the intake; the source watches it. */
  readonly valve: IntakeValve;
  close(): Promise<void>;
}

export const authOf = ({ destination }: Config): QualtricsAuth => {
  if (destination.auth === 'header') return { kind: 'header', apiToken: destination.apiToken.reveal() };
  // The codec refuses auth: basic without a username; this keeps the compiler and a future edit honest.
  if (destination.username === undefined) throw new Error('destination.username is required with auth: basic');
  return { kind: 'basic', username: destination.username, apiToken: destination.apiToken.reveal() };
};

const logConnection =
  (logger: Logger, url: string) =>
  (event: ConnectionEvent): void => {
    switch (event.type) {
      case 'connecting':
        if (event.attempt === 0) logger.info({ url }, 'connecting to the feed');
        return;
      case 'connected':
        logger.info({ url }, 'connected to the feed');
        return;
      case 'disconnected':
        logger.warn({ url, code: event.code, reason: event.reason, retryInMs: event.retryInMs }, 'feed disconnected; reconnecting');
        return;
      case 'error':
        logger.warn({ url, error: event.error.message }, 'feed connection error');
    }
  };

/** `Post-purchase survey` -> `post-purchase-survey`: for file names. */
export const slug = (name: string): string =>
  name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '') || 'pipeline';

/** Builds the adapters for a config. Without `redis.url`, the embedded in-memory stores are used. */
export const wire = (config: Config, logger: Logger): Wiring => {
  const { websocket } = config.source;
  const { destination } = config;
  const headers = Object.fromEntries(Object.entries(websocket.headers ?? {}).map(([name, value]) => [name, value.reveal()]));
  const valve = new IntakeValve();
  const context: OperatorContext = {
    dedupeStore: new MemoryDedupeStore(),
    deliveryLog: new MemoryDeliveryLog({ compare: compareOrder }),
    rateLimiter: new MemoryRateLimiter(destination.rateLimit),
    sender: new QualtricsHttpSender({ url: destination.url, auth: authOf(config), timeoutMs: destination.timeoutMs }),
    deadLetters: new DeadLetterFile(config.deadLetters?.file ?? `dead-letters/${slug(config.name)}.jsonl`),
    valve,
  };
  return {
    sourceName: 'websocket',
    source: webSocketClientSource({ url: websocket.url, headers, onEvent: logConnection(logger, websocket.url), paused$: valve.closed$ }),
    context,
    valve,
    close: async () => {},
  };
};
