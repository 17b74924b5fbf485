import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TokenAnswer, TokenRequest } from './oauth-tokens.js';

/**
 * Whether a request may post profiles: its `Authorization` header checked. With `retryAfterSeconds`,
 * it cannot be checked now (503, so AEP retries), rather than refused (401).
 */
export type Authorize = (
  authorization: string | undefined,
) => Promise<{ ok: true } | { ok: false; why: string; retryAfterSeconds?: number }>;

/** What storing a body came to: kept (every profile in it is in the journal), or refused for now. */
export type Stored =
  | { readonly stored: true }
  | { readonly stored: false; readonly why: string; readonly retryAfterSeconds: number };

export interface HttpIntakeOptions {
  readonly host: string;
  readonly port: number;
  /** Where profiles are posted. */
  readonly path: string;
  readonly maxBodyBytes: number;
  readonly maxConnections?: number | undefined;
  /** A request (headers and body) that takes longer is cut off. */
  readonly requestTimeoutMs: number;
  /** HTTPS: the certificate and key; with `ca` and `requireClientCert`, only clients it signed get in. */
  readonly tls?: { cert: Buffer; key: Buffer; ca?: Buffer | undefined; requireClientCert?: boolean } | undefined;
  readonly authorize: Authorize;
  /** OAuth 2.0: where the token endpoint is served, and how it answers. */
  readonly token?: {
    readonly path: string;
    answer(request: TokenRequest): Promise<TokenAnswer>;
  };
  /** Appends a body (JSON: one profile or a list) to the journal; resolves once it is there, or refused. */
  readonly store: (body: Buffer) => Promise<Stored>;
  /** Every answer's status, for the metrics. */
  readonly onAnswer?: (status: number) => void;
}

const JSON_TYPE = /^application\/json\s*(;.*)?$/i;

/** A request refused with this status (and headers); `close` ends the connection after the answer. */
export class Refusal extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
    /** Close the connection after answering: the rest of the body is not read. */
    readonly close = false,
  ) {
    super(message);
  }
}

/** The body, up to `max` bytes; more is a 413 (and the rest is not read). */
export const readBody = (request: IncomingMessage, max: number): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        reject(new Refusal(413, `the body is over ${max} bytes`, {}, true));
        request.pause();
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });

/**
 * The HTTP(S) endpoint Adobe Experience Platform's HTTP API destination posts profiles to. A POST of JSON
 * (one profile or a list) to `path`, authorized, is answered 200 once the body is in the journal, and
 * 503 with `Retry-After` only when it cannot be stored now (Redis down, the journal full). Every other
 * request gets the status that says what was wrong, and nothing is stored: 401 (with
 * `WWW-Authenticate: Bearer`), 404, 405, 411, 413 (the rest of the body unread, the connection
 * closed), 415, 400 (not JSON). Profiles that do not decode are stored, and excluded one by one later.
 */
export class HttpIntakeServer {
  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(options: HttpIntakeOptions): Promise<HttpIntakeServer> {
    const handler = (request: IncomingMessage, response: ServerResponse): void => {
      void HttpIntakeServer.#handle(options, request, response);
    };
    const { tls } = options;
    // Node looks for requests over their time limits only this often (30 s by default): often enough
    // that a stalled client is cut off close to `requestTimeoutMs`, not long after it.
    const checkEvery = Math.max(250, Math.min(5_000, Math.floor(options.requestTimeoutMs / 4)));
    const timeouts = {
      requestTimeout: options.requestTimeoutMs,
      headersTimeout: Math.min(options.requestTimeoutMs, 60_000),
      connectionsCheckingInterval: checkEvery,
    };
    const server: Server = tls
      ? createHttpsServer(
          {
            ...timeouts,
            cert: tls.cert,
            key: tls.key,
            ...(tls.ca ? { ca: tls.ca } : {}),
            // A client without a certificate the CA signed is refused in the handshake, before any request.
            requestCert: tls.requireClientCert === true,
            rejectUnauthorized: tls.requireClientCert === true,
          },
          handler,
        )
      : createHttpServer(timeouts, handler);
    if (options.maxConnections !== undefined) server.maxConnections = options.maxConnections;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const { address, port } = server.address() as AddressInfo;
    const host = address.includes(':') ? `[${address}]` : address;
    return new HttpIntakeServer(server, `${tls ? 'https' : 'http'}://${host}:${port}${options.path}`);
  }

  static async #handle(options: HttpIntakeOptions, request: IncomingMessage, response: ServerResponse): Promise<void> {
    const answer = (status: number, body: Record<string, unknown>, headers: Record<string, string> = {}): void => {
      options.onAnswer?.(status);
      response.writeHead(status, { 'content-type': 'application/json', ...headers });
      response.end(JSON.stringify(body));
    };
    try {
      const path = new URL(request.url ?? '/', 'http://intake').pathname;
      if (options.token && path === options.token.path) {
        const body = await readBody(request, 64 * 1024);
        const token = await options.token.answer({ method: request.method ?? '', headers: request.headers, body });
        answer(token.status, { ...token.body }, { ...token.headers });
        return;
      }
      if (path !== options.path) throw new Refusal(404, `nothing here; post profiles to ${options.path}`);
      if (request.method !== 'POST') throw new Refusal(405, 'only POST', { allow: 'POST' });
      const authorized = await options.authorize(request.headers.authorization);
      if (!authorized.ok && authorized.retryAfterSeconds !== undefined)
        throw new Refusal(503, authorized.why, { 'retry-after': String(authorized.retryAfterSeconds) });
      if (!authorized.ok)
        throw new Refusal(401, authorized.why, {
          'www-authenticate': `Bearer realm="qualtrics-automations", error="invalid_token"`,
        });
      const length = request.headers['content-length'];
      if (length === undefined) throw new Refusal(411, 'a Content-Length is required', {}, true);
      if (Number(length) > options.maxBodyBytes)
        throw new Refusal(413, `the body is over ${options.maxBodyBytes} bytes`, {}, true);
      if (!JSON_TYPE.test(request.headers['content-type'] ?? ''))
        throw new Refusal(415, 'expected Content-Type: application/json', {}, true);
      const body = await readBody(request, options.maxBodyBytes);
      try {
        JSON.parse(body.toString('utf8'));
      } catch (error) {
        throw new Refusal(400, `the body is not JSON: ${(error as Error).message}`);
      }
      const stored = await options.store(body);
      if (!stored.stored)
        throw new Refusal(503, `not stored: ${stored.why}`, { 'retry-after': String(stored.retryAfterSeconds) });
      answer(200, { stored: true });
    } catch (error) {
      if (!(error instanceof Refusal)) {
        answer(500, { error: 'internal error' });
        return;
      }
      answer(
        error.status,
        { error: error.message },
        { ...error.headers, ...(error.close ? { connection: 'close' } : {}) },
      );
      // The rest of an oversized or unwanted body is not read: the connection goes with the answer.
      if (error.close) response.once('finish', () => request.socket.destroy());
    }
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
