import { expect } from 'chai';
import { BehaviorSubject, type Subscription } from 'rxjs';
import WebSocket from 'ws';
import {
  WebSocketListenSource,
  type ListenEvent,
  type ProducedMessage,
} from '../../../adapters/websocket/listen-source.js';
import { eventually } from '../../helpers/ws-server.js';

const TOKEN = 'ingest-token';

/** A producer connecting with `token` (`null`: no Authorization header at all). */
const producer = (url: string, token: string | null = TOKEN, query = ''): WebSocket =>
  new WebSocket(`${url}${query}`, token === null ? {} : { headers: { authorization: `Bearer ${token}` } });

const opened = (socket: WebSocket): Promise<void> =>
  new Promise((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });

/** The HTTP status an upgrade was refused with. */
const refusedWith = (socket: WebSocket): Promise<number> =>
  new Promise((resolve) => socket.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)));

describe('WebSocketListenSource (real loopback WebSocket)', () => {
  let listener: WebSocketListenSource;
  let subscription: Subscription | undefined;
  const sockets: WebSocket[] = [];
  const events: ListenEvent[] = [];
  const paused$ = new BehaviorSubject(false);
  const start = async (options: Partial<Parameters<typeof WebSocketListenSource.start>[0]> = {}) => {
    listener = await WebSocketListenSource.start({
      host: '127.0.0.1',
      port: 0,
      path: '/profiles',
      token: TOKEN,
      maxPayloadBytes: 1024,
      paused$,
      onEvent: (e) => events.push(e),
      ...options,
    });
    return listener;
  };
  const connect = (...args: Parameters<typeof producer>) => {
    const socket = producer(...args);
    socket.on('error', () => {});
    sockets.push(socket);
    return socket;
  };
  afterEach(async () => {
    subscription?.unsubscribe();
    for (const socket of sockets.splice(0)) socket.terminate();
    paused$.next(false);
    events.length = 0;
    await listener?.close();
  });

  it('takes messages from several producers at once', async () => {
    await start();
    const received: string[] = [];
    subscription = listener.messages$.subscribe((m) => received.push(String(m.data)));
    const [a, b] = [connect(listener.url), connect(listener.url)];
    await Promise.all([opened(a), opened(b)]);
    a.send('{"from":"a"}');
    b.send('{"from":"b"}');
    a.send('{"from":"a2"}');
    await eventually(() => received.length === 3);
    expect(received).to.have.members(['{"from":"a"}', '{"from":"b"}', '{"from":"a2"}']);
    expect(events.filter((e) => e.type === 'producer-connected')).to.have.length(2);
  });

  it('refuses a producer without the right bearer token with 401 at the upgrade, and a wrong path with 404', async () => {
    await start();
    expect(await refusedWith(connect(listener.url, null))).to.equal(401);
    expect(await refusedWith(connect(listener.url, 'wrong-token'))).to.equal(401);
    expect(await refusedWith(connect(listener.url.replace('/profiles', '/other')))).to.equal(404);
    expect(
      events.filter((e) => e.type === 'producer-refused').map((e) => (e as { status: number }).status),
    ).to.deep.equal([401, 401, 404]);
  });

  it('refuses an oversized message by closing only that producer (1009)', async () => {
    await start();
    const received: string[] = [];
    subscription = listener.messages$.subscribe((m) => received.push(String(m.data)));
    const [big, small] = [connect(listener.url), connect(listener.url)];
    await Promise.all([opened(big), opened(small)]);
    const closed = new Promise<number>((resolve) => big.once('close', (code) => resolve(code)));
    big.send('x'.repeat(2048));
    expect(await closed).to.equal(1009);
    small.send('{"still":"here"}');
    await eventually(() => received.length === 1);
    expect(received).to.deep.equal(['{"still":"here"}']);
    expect(small.readyState).to.equal(WebSocket.OPEN);
  });

  it('reads no producer while paused, and everything once resumed', async () => {
    await start();
    const received: string[] = [];
    subscription = listener.messages$.subscribe((m) => received.push(String(m.data)));
    // A twin listener that is never paused gets the same messages from the same kind of producers: once it
    // has read them all, this one would have too if pausing did not hold, however fast this machine is.
    const twin = await WebSocketListenSource.start({
      host: '127.0.0.1',
      port: 0,
      path: '/profiles',
      token: TOKEN,
      maxPayloadBytes: 1024,
    });
    const twinReceived: string[] = [];
    const twinSubscription = twin.messages$.subscribe((m) => twinReceived.push(String(m.data)));
    try {
      const [a, twinA] = [connect(listener.url), connect(twin.url)];
      await Promise.all([opened(a), opened(twinA)]);
      paused$.next(true);
      for (let i = 0; i < 5; i += 1) {
        a.send(`{"n":${i}}`);
        twinA.send(`{"n":${i}}`);
      }
      const [late, twinLate] = [connect(listener.url), connect(twin.url)];
      await Promise.all([opened(late), opened(twinLate)]);
      late.send('{"late":true}');
      twinLate.send('{"late":true}');
      await eventually(() => twinReceived.length === 6, 5_000, 'the twin to read all six');
      expect(received).to.deep.equal([]);
      paused$.next(false);
      await eventually(() => received.length === 6);
    } finally {
      twinSubscription.unsubscribe();
      await twin.close();
    }
  });

  it('acknowledges each message by its number on the connection when the producer asks (?ack=1)', async () => {
    await start({ ackWhen: 'settled' });
    const taken: ProducedMessage[] = [];
    subscription = listener.messages$.subscribe((m) => taken.push(m));
    const a = connect(listener.url, TOKEN, '?ack=1');
    const replies: unknown[] = [];
    a.on('message', (data) => replies.push(JSON.parse(String(data))));
    await opened(a);
    a.send('{"n":1}');
    a.send('{"n":2}');
    await eventually(() => taken.length === 2);
    expect(replies).to.deep.equal([]);
    taken[1]!.ack!();
    taken[0]!.reply!(false, 'journal unavailable');
    await eventually(() => replies.length === 2);
    expect(replies).to.deep.equal([{ ack: 2 }, { nack: 1, error: 'journal unavailable' }]);
  });

  it('sends no acknowledgements to a producer that did not ask', async () => {
    await start({ ackWhen: 'manual' });
    const taken: ProducedMessage[] = [];
    subscription = listener.messages$.subscribe((m) => taken.push(m));
    const a = connect(listener.url);
    const replies: unknown[] = [];
    a.on('message', (data) => replies.push(String(data)));
    await opened(a);
    a.send('{"n":1}');
    await eventually(() => taken.length === 1);
    // A ping after the message: the server's pong follows anything it sent in answer to the message on
    // this connection, so once the pong is here, so would an acknowledgement be.
    const pong = new Promise((resolve) => a.once('pong', resolve));
    a.ping();
    await pong;
    expect(taken[0]!.reply).to.equal(undefined);
    expect(replies).to.deep.equal([]);
  });
});
