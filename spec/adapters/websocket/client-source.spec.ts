import { expect } from 'chai';
import { BehaviorSubject, type Subscription } from 'rxjs';
import type { InboundMessage } from '../../../adapters/inbound-message.js';
import { webSocketClientSource, type ConnectionEvent } from '../../../adapters/websocket/client-source.js';
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
    subscription = webSocketClientSource({
      url: server.url,
      headers: { authorization: 'Bearer feed-token' },
    }).subscribe((m) => received.push(m));
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
    subscription = webSocketClientSource({
      url: server.url,
      initialReconnectMs: 20,
      onEvent: (e) => events.push(e.type),
    }).subscribe((m) => received.push(m));
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
    subscription = webSocketClientSource({
      url: `ws://127.0.0.1:${port}/feed`,
      initialReconnectMs: 10,
      maxReconnectMs: 40,
      onEvent: (e) => events.push(e),
    }).subscribe();
    await eventually(() => events.filter((e) => e.type === 'disconnected').length >= 3, 3_000, 'three failed attempts');
    server = await TestWebSocketServer.start(port);
    await server.connection(1);
    await eventually(() => events.some((e) => e.type === 'connected'));
  });

  it('closes the connection when unsubscribed, and does not reconnect', async () => {
    server = await TestWebSocketServer.start();
    let connected = false;
    const sub = webSocketClientSource({
      url: server.url,
      initialReconnectMs: 10,
      onEvent: (e) => (connected ||= e.type === 'connected'),
    }).subscribe();
    const socket = await server.connection(1);
    await eventually(() => connected);
    // A twin that stays subscribed, with a longer reconnect delay (25 to 50 ms against 5 to 10): once the
    // feed drops it and it is back, the unsubscribed source would have been back first, however slowly
    // this machine runs. No fixed sleep decides it.
    const twin = webSocketClientSource({ url: `${server.url}?twin=1`, initialReconnectMs: 50 }).subscribe();
    subscription = twin;
    const twinSocket = await server.connection(2);
    const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
    sub.unsubscribe();
    twinSocket.terminate();
    expect(await closed).to.equal(1000);
    await server.connection(3);
    expect(server.connections.map((c) => c.request.url)).to.deep.equal(['/feed', '/feed?twin=1', '/feed?twin=1']);
  });

  it('drops a connection that stops answering pings, and reconnects', async () => {
    server = await TestWebSocketServer.start();
    const events: ConnectionEvent['type'][] = [];
    subscription = webSocketClientSource({
      url: server.url,
      heartbeatMs: 50,
      initialReconnectMs: 10,
      onEvent: (e) => events.push(e.type),
    }).subscribe();
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
    subscription = webSocketClientSource({
      url: server.url,
      heartbeatMs: 30,
      paused$,
      onEvent: (e) => events.push(e.type),
    }).subscribe((m) => received.push(m));
    const socket = await server.connection(1);
    await eventually(() => events.includes('connected'));
    // A twin with the same heartbeat that is never paused: its pings, counted at the server, say how many
    // heartbeats went by on this machine's own timers (a silent connection is dropped after two).
    const twin = webSocketClientSource({ url: `${server.url}?twin=1`, heartbeatMs: 30 }).subscribe();
    const twinSocket = await server.connection(2);
    paused$.next(true);
    socket.send('{"while":"paused"}');
    let pings = 0;
    twinSocket.on('ping', () => (pings += 1));
    await eventually(() => pings >= 5, 5_000, 'five heartbeats of the twin');
    twin.unsubscribe();
    expect(received, 'not read while paused').to.have.length(0);
    expect(events).not.to.include('unresponsive');
    paused$.next(false);
    await eventually(() => received.length === 1);
    expect(server.connections).to.have.length(2);
  });

  it('resumes a feed after the last message taken: nothing twice, nothing skipped', async () => {
    server = await TestWebSocketServer.start();
    // A resumable feed: numbered messages; `?after=n` starts after n. It drops the first connection after 5.
    // After 12 it sends an end marker: whatever came before it on that connection has arrived by then.
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
      socket.send(JSON.stringify({ offset: 13, end: true }));
    });
    const received: InboundMessage[] = [];
    subscription = webSocketClientSource({
      url: server.url,
      resume: { idField: 'offset', query: 'after' },
      initialReconnectMs: 10,
    }).subscribe((m) => received.push(m));
    const offsets = () => received.map((m) => (JSON.parse(text(m)) as { offset: number }).offset);
    await eventually(() => offsets().includes(13), 3_000, 'the end marker');
    expect(offsets()).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
    expect(server.connections.map((c) => c.request.url)).to.deep.equal(['/feed', '/feed?after=5']);
  });
});
