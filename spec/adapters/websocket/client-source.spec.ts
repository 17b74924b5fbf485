import { expect } from 'chai';
import type { Subscription } from 'rxjs';
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

  it('backs off exponentially, capped, with jitter between half and all of the delay', () => {
    expect(backoffDelay(0, 100, 1_000, () => 0)).to.equal(50);
    expect(backoffDelay(0, 100, 1_000, () => 1)).to.equal(100);
    expect(backoffDelay(3, 100, 1_000, () => 1)).to.equal(800);
    expect(backoffDelay(10, 100, 1_000, () => 1)).to.equal(1_000);
    expect(backoffDelay(10, 100, 1_000, () => 0)).to.equal(500);
  });
});
