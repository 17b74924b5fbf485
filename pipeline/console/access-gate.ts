import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { bearerTokenOf, sameSecret } from '../../adapters/same-secret.js';
import type { AccessConfig, Role } from '../config/access.js';
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
/** Sessions kept per token name: signing in once more drops that name's oldest. */
export const SESSIONS_PER_NAME = 20;
/** Failed sign-ins from one address within the window before it must wait for the window to pass. */
export const SIGN_IN_FAILURES = 5;
export const SIGN_IN_WINDOW_MS = 15 * 60 * 1000;
/** Addresses whose failures are remembered at most (the oldest forgotten first). */
const FAILING_ADDRESSES = 10_000;
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
  /** Failed sign-ins per remote address: how many, since when (the window's start). */
  readonly #failures = new Map<string, { count: number; since: number }>();
  /** Without `access`: the one CSRF token of the process, written into its pages. */
  readonly #openCsrf = randomToken();

  private constructor(
    private readonly tokens: ReadonlyArray<{ readonly token: string; readonly principal: Principal }> | undefined,
    private readonly now: () => number,
  ) {}

  static async open(access: AccessConfig | undefined, now: () => number = Date.now): Promise<AccessGate> {
    if (!access) return new AccessGate(undefined, now);
    const tokens = access.tokens.map(({ name, roles, token }) => ({
      token: token.reveal(),
      principal: { name, roles: new Set(roles) },
    }));
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

  /**
   * Seconds the address must wait before it may try to sign in again: 0, or what is left of the window
   * once it failed `SIGN_IN_FAILURES` times in it (so tokens cannot be guessed by trying fast).
   */
  signInWait(from: string): number {
    const failures = this.#failures.get(from);
    if (!failures) return 0;
    const left = failures.since + SIGN_IN_WINDOW_MS - this.now();
    if (left <= 0) {
      this.#failures.delete(from);
      return 0;
    }
    return failures.count >= SIGN_IN_FAILURES ? Math.ceil(left / 1000) : 0;
  }

  /**
   * Signs in with a token from an address: the `Set-Cookie` value of a new session, or undefined for a
   * wrong token (counted against the address). Expired sessions go, and the name keeps its newest few.
   */
  signIn(token: string, from = ''): { readonly cookie: string; readonly principal: Principal } | undefined {
    const now = this.now();
    for (const [id, session] of this.#sessions) if (session.expires <= now) this.#sessions.delete(id);
    const principal = this.#principalOf(token);
    if (!principal) {
      this.#failed(from, now);
      return undefined;
    }
    this.#failures.delete(from);
    const own = [...this.#sessions].filter(([, session]) => session.principal === principal);
    for (const [id] of own.slice(0, Math.max(0, own.length - SESSIONS_PER_NAME + 1))) this.#sessions.delete(id);
    const id = randomToken();
    this.#sessions.set(id, { principal, csrf: randomToken(), expires: now + SESSION_MS });
    const maxAge = Math.floor(SESSION_MS / 1000);
    return { cookie: `${SESSION_COOKIE}=${id}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${maxAge}`, principal };
  }

  /** How many sessions are kept (expired ones go at the next sign-in). */
  get sessionCount(): number {
    return this.#sessions.size;
  }

  #failed(from: string, now: number): void {
    const failures = this.#failures.get(from);
    if (failures && failures.since + SIGN_IN_WINDOW_MS > now) {
      failures.count += 1;
      return;
    }
    this.#failures.delete(from);
    this.#failures.set(from, { count: 1, since: now });
    for (const [address] of this.#failures) {
      if (this.#failures.size <= FAILING_ADDRESSES) break;
      this.#failures.delete(address);
    }
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
