import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { bearerTokenOf, sameSecret } from '../../adapters/same-secret.js';
import { messageOf } from '../../operators/model/errors.js';
import type { AccessConfig, Role } from '../config/access.js';
import { ConfigError } from '../config/errors.js';
import { isLoopback } from '../config/loopback.js';

/** Who is asking, and what they may do. */
export interface Principal {
  readonly name: string;
  readonly roles: ReadonlySet<Role>;
}

/** A known caller, and how they proved it: a session cookie needs a CSRF token on every change; a bearer does not. */
export interface Caller {
  readonly principal: Principal;
  readonly csrf: string | undefined;
}

interface Session {
  readonly principal: Principal;
  readonly csrf: string;
  readonly expires: number;
}

export const SESSION_COOKIE = 'qa_console';
export const CSRF_HEADER = 'x-csrf-token';
const SESSION_MS = 12 * 60 * 60 * 1000;
const ALL_ROLES: ReadonlySet<Role> = new Set(['view', 'manage', 'activate']);

const randomToken = (): string => randomBytes(32).toString('base64url');

const cookieOf = (request: IncomingMessage, name: string): string | undefined => {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const [key, ...value] = part.trim().split('=');
    if (key === name) return value.join('=');
  }
  return undefined;
};

/**
 * Who may use the console. With `access`, a caller is a token holder: machines send it as a bearer token,
 * people sign in once with it and get a session cookie (HttpOnly, SameSite=Strict) whose changes also need
 * the session's CSRF token in a header, which another site's page can neither read nor send. Without
 * `access`, the server is on loopback only and whoever reaches it may do everything; changes still need
 * the process's CSRF token (a page from elsewhere cannot send that header), and a Host that is not
 * loopback is refused, so a rebinding DNS name cannot borrow the browser's way in.
 */
export class AccessGate {
  readonly #sessions = new Map<string, Session>();
  /** Without `access`: the one CSRF token of the process, written into its pages. */
  readonly #openCsrf = randomToken();

  private constructor(
    private readonly tokens: ReadonlyArray<{ readonly token: string; readonly principal: Principal }> | undefined,
    private readonly now: () => number,
  ) {}

  /** Reads each `tokenFile` (its first line) once, at start: a file that cannot be read stops the start. */
  static async open(access: AccessConfig | undefined, now: () => number = Date.now): Promise<AccessGate> {
    if (!access) return new AccessGate(undefined, now);
    const tokens = await Promise.all(
      access.tokens.map(async ({ name, roles, token, tokenFile }, index) => {
        let value = token?.reveal();
        if (tokenFile !== undefined) {
          try {
            value = (await readFile(tokenFile, 'utf8')).split(/\r?\n/)[0]?.trim();
          } catch (error) {
            throw new ConfigError('config', [`access.tokens[${index}].tokenFile: cannot read it: ${messageOf(error)}`]);
          }
          if (!value) throw new ConfigError('config', [`access.tokens[${index}].tokenFile: the file is empty`]);
        }
        return { token: value!, principal: { name, roles: new Set(roles) } };
      }),
    );
    return new AccessGate(tokens, now);
  }

  /** Whether the console is open to whoever reaches it (no `access`: loopback only). */
  get isOpen(): boolean {
    return this.tokens === undefined;
  }

  /** The caller of a request, or undefined when it proves no one (no token, a wrong one, an expired session). */
  callerOf(request: IncomingMessage): Caller | undefined {
    if (!this.tokens) {
      const host = (request.headers.host ?? '').replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
      return isLoopback(host) ? { principal: { name: 'loopback', roles: ALL_ROLES }, csrf: this.#openCsrf } : undefined;
    }
    const bearer = bearerTokenOf(request.headers.authorization);
    if (bearer !== undefined) {
      const found = this.#principalOf(bearer);
      return found && { principal: found, csrf: undefined };
    }
    const id = cookieOf(request, SESSION_COOKIE);
    const session = id === undefined ? undefined : this.#sessions.get(id);
    if (!session) return undefined;
    if (session.expires <= this.now()) {
      this.#sessions.delete(id!);
      return undefined;
    }
    return { principal: session.principal, csrf: session.csrf };
  }

  /**
   * Whether a state-changing request is the caller's own: a bearer caller always is; a cookie caller must
   * send the CSRF token of its session in the `x-csrf-token` header.
   */
  isOwnChange(request: IncomingMessage, caller: Caller): boolean {
    if (caller.csrf === undefined) return true;
    const sent = request.headers[CSRF_HEADER];
    return typeof sent === 'string' && sameSecret(sent, caller.csrf);
  }

  /** Signs in with a token: the `Set-Cookie` value of a new session, or undefined for a wrong token. */
  signIn(token: string): { readonly cookie: string; readonly principal: Principal } | undefined {
    const principal = this.#principalOf(token);
    if (!principal) return undefined;
    const id = randomToken();
    this.#sessions.set(id, { principal, csrf: randomToken(), expires: this.now() + SESSION_MS });
    const maxAge = Math.floor(SESSION_MS / 1000);
    return { cookie: `${SESSION_COOKIE}=${id}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${maxAge}`, principal };
  }

  /** Ends the request's session; the `Set-Cookie` value that clears it in the browser. */
  signOut(request: IncomingMessage): string {
    const id = cookieOf(request, SESSION_COOKIE);
    if (id !== undefined) this.#sessions.delete(id);
    return `${SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`;
  }

  #principalOf(token: string): Principal | undefined {
    // Every token is compared (in constant time), so the answer's timing tells nothing about which matched.
    let found: Principal | undefined;
    for (const entry of this.tokens ?? []) if (sameSecret(token, entry.token)) found ??= entry.principal;
    return found;
  }
}
