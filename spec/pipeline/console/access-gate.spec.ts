import { expect } from 'chai';
import type { IncomingMessage } from 'node:http';
import { Secret } from '../../../pipeline/config/secret.js';
import {
  AccessGate,
  SESSIONS_PER_NAME,
  SIGN_IN_FAILURES,
  SIGN_IN_WINDOW_MS,
} from '../../../pipeline/console/access-gate.js';
import type { NonEmptyString } from '../../../operators/model/codecs.js';

/** A request as the gate reads it: its headers. */
const request = (headers: Record<string, string>): IncomingMessage => ({ headers }) as unknown as IncomingMessage;
const name = (text: string) => text as NonEmptyString;
const cookieOf = (setCookie: string) => setCookie.split(';')[0]!;

describe('console: AccessGate (who may look and act)', () => {
  // A token from a file is read when the config loads (spec/pipeline/config/secret-files.spec.ts): here, values.
  const tokens = () => ({
    tokens: [
      { name: name('ada'), token: new Secret('ada-secret'), roles: ['view', 'manage'] as ['view', 'manage'] },
      { name: name('bot'), token: new Secret('bot-secret-0123456789'), roles: ['view'] as ['view'] },
    ] as never,
  });

  it('knows a bearer token and its roles; a wrong one is no one', async () => {
    const gate = await AccessGate.open(tokens());
    const ada = gate.callerOf(request({ authorization: 'Bearer ada-secret' }));
    expect(ada?.principal.name).to.equal('ada');
    expect([...(ada?.principal.roles ?? [])]).to.deep.equal(['view', 'manage']);
    expect(gate.callerOf(request({ authorization: 'Bearer bot-secret-0123456789' }))?.principal.name).to.equal('bot');
    expect(gate.callerOf(request({ authorization: 'Bearer nope' }))).to.equal(undefined);
    expect(gate.callerOf(request({}))).to.equal(undefined);
  });

  it('a session cookie is HttpOnly and SameSite=Strict, needs its CSRF token for changes, and expires', async () => {
    let now = 0;
    const gate = await AccessGate.open(tokens(), () => now);
    expect(gate.signIn('wrong')).to.equal(undefined);
    const session = gate.signIn('ada-secret')!;
    expect(session.cookie).to.match(/HttpOnly; SameSite=Strict; Path=\//);
    const caller = gate.callerOf(request({ cookie: cookieOf(session.cookie) }))!;
    expect(caller.principal.name).to.equal('ada');
    expect(gate.isOwnChange(request({ cookie: cookieOf(session.cookie) }), caller)).to.equal(false);
    expect(gate.isOwnChange(request({ 'x-csrf-token': 'guess' }), caller)).to.equal(false);
    expect(gate.isOwnChange(request({ 'x-csrf-token': caller.csrf! }), caller)).to.equal(true);
    // A bearer caller proves itself with every request: no CSRF token needed.
    const bot = gate.callerOf(request({ authorization: 'Bearer bot-secret-0123456789' }))!;
    expect(gate.isOwnChange(request({}), bot)).to.equal(true);
    now += 13 * 60 * 60 * 1000;
    expect(gate.callerOf(request({ cookie: cookieOf(session.cookie) }))).to.equal(undefined);
  });

  it('signing out ends the session', async () => {
    const gate = await AccessGate.open({
      tokens: [{ name: name('ada'), token: new Secret('s'), roles: ['view'] }],
    } as never);
    const cookie = cookieOf(gate.signIn('s')!.cookie);
    expect(gate.signOut(request({ cookie }))).to.include('Max-Age=0');
    expect(gate.callerOf(request({ cookie }))).to.equal(undefined);
  });

  it('without access: everyone on loopback may do everything, but a Host that is not loopback is refused', async () => {
    const gate = await AccessGate.open(undefined);
    expect(gate.isOpen).to.equal(true);
    const local = gate.callerOf(request({ host: '127.0.0.1:9464' }));
    expect([...(local?.principal.roles ?? [])]).to.deep.equal(['view', 'manage', 'activate']);
    expect(gate.callerOf(request({ host: '[::1]:9464' }))?.principal.name).to.equal('loopback');
    // DNS rebinding: a page of evil.example whose name now points at 127.0.0.1.
    expect(gate.callerOf(request({ host: 'evil.example:9464' }))).to.equal(undefined);
    expect(gate.isOwnChange(request({ host: '127.0.0.1:9464' }), local!)).to.equal(false);
  });

  it('drops expired sessions at each sign-in, and keeps only the newest sessions of a name', async () => {
    let now = 0;
    const gate = await AccessGate.open(
      { tokens: [{ name: name('ada'), token: new Secret('ada-secret'), roles: ['view'] }] } as never,
      () => now,
    );
    const first = cookieOf(gate.signIn('ada-secret')!.cookie);
    gate.signIn('ada-secret');
    expect(gate.sessionCount).to.equal(2);
    now += 13 * 60 * 60 * 1000;
    gate.signIn('ada-secret');
    expect(gate.sessionCount).to.equal(1);
    const cookies = Array.from({ length: SESSIONS_PER_NAME + 5 }, () => cookieOf(gate.signIn('ada-secret')!.cookie));
    expect(gate.sessionCount).to.equal(SESSIONS_PER_NAME);
    expect(gate.callerOf(request({ cookie: cookies[0]! }))).to.equal(undefined);
    expect(gate.callerOf(request({ cookie: cookies.at(-1)! }))?.principal.name).to.equal('ada');
    expect(gate.callerOf(request({ cookie: first }))).to.equal(undefined);
  });

  it('an address that failed to sign in too often waits for the window; others do not', async () => {
    let now = 0;
    const gate = await AccessGate.open(
      { tokens: [{ name: name('ada'), token: new Secret('ada-secret'), roles: ['view'] }] } as never,
      () => now,
    );
    for (let i = 0; i < SIGN_IN_FAILURES; i += 1) {
      expect(gate.signInWait('10.0.0.9')).to.equal(0);
      expect(gate.signIn('guess', '10.0.0.9')).to.equal(undefined);
    }
    expect(gate.signInWait('10.0.0.9')).to.equal(SIGN_IN_WINDOW_MS / 1000);
    expect(gate.signInWait('10.0.0.10')).to.equal(0);
    expect(gate.signIn('ada-secret', '10.0.0.10')).to.not.equal(undefined);
    now += SIGN_IN_WINDOW_MS;
    expect(gate.signInWait('10.0.0.9')).to.equal(0);
  });
});
