import type { Observable } from 'rxjs';
import type { InboundMessage } from '../adapters/inbound-message.js';
import { MemoryDedupeStore } from '../adapters/memory/dedupe-store.js';
import { QualtricsHttpSender, type QualtricsAuth } from '../adapters/qualtrics/http-sender.js';
import { webSocketClientSource, type ConnectionEvent } from '../adapters/websocket/client-source.js';
import type { OperatorContext } from '../operators/model/define.js';
import type { Config } from './config/codec.js';
import type { Logger } from './logger.js';

/** The adapters a config asks for, ready to inject. */
export interface Wiring {
  readonly sourceName: string;
  readonly source: Observable<InboundMessage>;
  readonly context: OperatorContext;
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

/** Builds the adapters for a config. Without `redis.url`, the embedded in-memory stores are used. */
export const wire = (config: Config, logger: Logger): Wiring => {
  const { websocket } = config.source;
  const headers = Object.fromEntries(Object.entries(websocket.headers ?? {}).map(([name, value]) => [name, value.reveal()]));
  const sender = new QualtricsHttpSender({ url: config.destination.url, auth: authOf(config) });
  return {
    sourceName: 'websocket',
    source: webSocketClientSource({ url: websocket.url, headers, onEvent: logConnection(logger, websocket.url) }),
    context: { dedupeStore: new MemoryDedupeStore(), sender },
    close: async () => {},
  };
};
