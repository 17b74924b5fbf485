import { expect } from 'chai';
import { BehaviorSubject, type Subscription } from 'rxjs';
import type { InboundMessage } from '../../../adapters/inbound-message.js';
import { backoffDelay, webSocketClientSource, type ConnectionEvent } from '../../../adapters/websocket/client-source.js';
import { eventually, TestWebSocketServer } from '../../helpers/ws-server.js';

const text = (message: InboundMessage): string => (message.data as Buffer).toString('utf8');

describe('webSocketClientSource (real loopback WebSocket)', () => {
  let server: TestWebSocketServer;
  let subscription: Subscription | undefined;
  afterEach(async () => {
    subscription?.unsubscribe();
    await server?.close();
  });

  it('connects with the configured headers and emits every message in order', async () => {
    server = await TestWebSocketServer.start();
    const received: InboundMessage[] = [];
    subscription = webSocketClientSource({ url: server.url, headers: { authorization: 'Bearer feed-token' } }).subscribe((m) => received.push(m));
    const socket = await server.connection(1);
    expect(server.connections[0]!.request.headers.authorization).to.equal('Bearer feed-token');
    for (const n of [1, 2, 3]) socket.send(JSON.stringify({ n }));
    await eventually(() => received.length === 3, 2_000, 'three messages');
    expect(received.map(text)).to.deep.equal(['{"n":1}', '{"n":2}', '{"n":3}']);
  });

  it('reconnects after the feed drops the connection, and goes on', async () => {
    server = await TestWebSocketServer.start();
    const received: InboundMessage[] = [];
    const events: ConnectionEvent['type'][] = [];
    subscription = webSocketClientSource({ url: server.url, initialReconnectMs: 20, onEvent: (e) => events.push(e.type) }).subscribe((m) => received.push(m));
    (await server.connection(1)).send('{"n":1}');
    await eventually(() => received.length === 1);
    server.connections[0]!.socket.terminate();
    (await server.connection(2)).send('{"n":2}');
    await eventually(() => received.length === 2);
    expect(received.map(text)).to.deep.equal(['{"n":1}', '{"n":2}']);
    expect(events).to.include.members(['connecting', 'connected', 'disconnected']);
  });

  it('keeps trying while the feed is down, and connects once it is back', async () => {
    server = await TestWebSocketServer.start();
    const port = Number(new URL(server.url).port);
    await server.close();
    const events: ConnectionEvent[] = [];
    subscription = webSocketClientSource({ url: `ws://127.0.0.1:${port}/feed`, initialReconnectMs: 10, maxReconnectMs: 40, onEvent: (e) => events.push(e) }).subscribe();
    await eventually(() => events.filter((e) => e.type === 'disconnected').length >= 3, 3_000, 'three failed attempts');
    server = await TestWebSocketServer.start(port);
    await server.connection(1);
    await eventually(() => events.some((e) => e.type === 'connected'));
  });

  it('closes the connection when unsubscribed, and does not reconnect', async () => {
    server = await TestWebSocketServer.start();
    let connected = false;
    const sub = webSocketClientSource({ url: server.url, initialReconnectMs: 10, onEvent: (e) => (connected ||= e.type === 'connected') }).subscribe();
    const socket = await server.connection(1);
    await eventually(() => connected);
    const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
    sub.unsubscribe();
    expect(await closed).to.equal(1000);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(server.connections).to.have.length(1);
  });

  it('drops a connection that stops answering pings, and reconnects', async () => {
    server = await TestWebSocketServer.start();
    const events: ConnectionEvent['type'][] = [];
    subscription = webSocketClientSource({ url: server.url, heartbeatMs: 50, initialReconnectMs: 10, onEvent: (e) => events.push(e.type) }).subscribe();
    await server.connection(1);
    // A dead peer: the server stops reading its socket, so pings go unanswered.
    (server.connections[0]!.socket as unknown as { _socket: { pause(): void } })._socket.pause();
    await server.connection(2);
    expect(events).to.include('unresponsive');
  });

  it('does not take a paused connection for a dead one', async () => {
    server = await TestWebSocketServer.start();
    const paused$ = new BehaviorSubject(false);
    const events: ConnectionEvent['type'][] = [];
    const received: InboundMessage[] = [];
    subscription = webSocketClientSource({ url: server.url, heartbeatMs: 30, paused$, onEvent: (e) => events.push(e.type) }).subscribe((m) => received.push(m));
    const socket = await server.connection(1);
    await eventually(() => events.includes('connected'));
    paused$.next(true);
    socket.send('{"while":"paused"}');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(received, 'not read while paused').to.have.length(0);
    expect(events).not.to.include('unresponsive');
    paused$.next(false);
    await eventually(() => received.length === 1);
    expect(server.connections).to.have.length(1);
  });

  it('resumes a feed after the last message taken: nothing twice, nothing skipped', async () => {
    server = await TestWebSocketServer.start();
    // A resumable feed: numbered messages; `?after=n` starts after n. It drops the first connection after 5.
    server.server.on('connection', (socket, request) => {
      const after = Number(new URL(request.url!, 'http://x').searchParams.get('after') ?? 0);
      const first = server.connections.length === 1;
      for (let n = after + 1; n <= 12; n += 1) {
        socket.send(JSON.stringify({ offset: n, identityMap: {} }));
        if (first && n === 5) {
          setTimeout(() => socket.terminate(), 20);
          return;
        }
      }
    });
    const received: InboundMessage[] = [];
    subscription = webSocketClientSource({ url: server.url, resume: { idField: 'offset', query: 'after' }, initialReconnectMs: 10 }).subscribe((m) => received.push(m));
    await eventually(() => received.length >= 12, 3_000, 'twelve messages');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(received.map((m) => (JSON.parse(text(m)) as { offset: number }).offset)).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(server.connections[1]!.request.url).to.equal('/feed?after=5');
  });

  it('backs off exponentially, capped, with jitter between half and all of the delay', () => {
    expect(backoffDelay(0, 100, 1_000, () => 0)).to.equal(50);
    expect(backoffDelay(0, 100, 1_000, () => 1)).to.equal(100);
    expect(backoffDelay(3, 100, 1_000, () => 1)).to.equal(800);
    expect(backoffDelay(10, 100, 1_000, () => 1)).to.equal(1_000);
    expect(backoffDelay(10, 100, 1_000, () => 0)).to.equal(500);
  });
});
