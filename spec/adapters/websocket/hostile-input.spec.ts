import { totalOf } from '../../../operators/model/ledger.js';
import { expect } from 'chai';
import fc from 'fast-check';
import { isUtf8 } from 'node:buffer';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { pino } from 'pino';
import WebSocket from 'ws';
import type { Settlement } from '../../../operators/model/ledger.js';
import { parseConfig } from '../../../pipeline/config/load.js';
import { QualtricsStandIn } from '../../../pipeline/demo/qualtrics-stand-in.js';
import { startFromConfig, type Started } from '../../../pipeline/run.js';
import { API_TOKEN, updateFor } from '../../helpers/harness.js';
import { tempDir } from '../../helpers/temp.js';
import { eventually } from '../../helpers/ws-server.js';

/*
 * Issue #8, point 11: hostile input costs only itself. Thousands of random and malformed messages go
 * through a real listen-mode WebSocket into the pipeline `run` builds; each must end in one outcome
 * with a reason, the process must not crash or grow, and well-formed neighbours must all be delivered.
 */

const INGEST_TOKEN = 'hostile-input-token';
const MAX_PAYLOAD_BYTES = 1024 * 1024;
const MAX_IN_FLIGHT = 64;
/** Hostile messages in all, over every run: the issue asks for at least 10,000. */
const AT_LEAST = 10_000;
/** 36 runs of at least 280: 10,080 at least, whatever fast-check draws. */
const RUNS = 36;
const PER_RUN = { minLength: 280, maxLength: 300 };

/** Stands for a fresh well-formed profile, filled in at send time so each is a new identity. */
const GOOD = Symbol('good');

/** Profiles made hostile on purpose live in their own domain, apart from the well-formed neighbours. */
const hostileEmail = fc.constantFrom('h1@hostile.example', 'h2@hostile.example', 'x@hostile.example');

/** Keys that mean something to JavaScript objects. */
const trickyKey = fc.constantFrom(
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'valueOf',
  '__defineGetter__',
);

/** A deep JSON nesting of `depth` levels around `inner` (arrays or objects), built as text. */
const nested = (depth: number, inner: string, objects: boolean): string =>
  objects ? `${'{"a":'.repeat(depth)}${inner}${'}'.repeat(depth)}` : `${'['.repeat(depth)}${inner}${']'.repeat(depth)}`;

const deep = fc
  .record({ depth: fc.integer({ min: 200, max: 120_000 }), objects: fc.boolean() })
  .map(({ depth, objects }) => nested(depth, '1', objects));

/** 100 KB to 700 KB of UTF-8 in one JSON string: huge, yet under maxPayloadBytes with a profile around it. */
const hugeString = fc
  .record({
    bytes: fc.integer({ min: 100_000, max: 700_000 }),
    unit: fc.constantFrom('x', 'é', '😀', '\\u0000', '\\"'),
  })
  .map(({ bytes, unit }) => `"${unit.repeat(Math.floor(bytes / Buffer.byteLength(unit)))}"`);

/** A profile as JSON text whose parts may be replaced by anything. */
const profileText = (
  email: string,
  { firstName = '"Hostile"', id = JSON.stringify(email), ups = '{"a1":{"status":"realized"}}', extra = '' } = {},
): string =>
  `{${extra}"person":{"name":{"firstName":${firstName}}},` +
  `"identityMap":{"Email":[{"id":${id}}]},"segmentMembership":{"ups":${ups}}}`;

const REALIZED = '{"ups":{"a1":{"status":"realized"}}}';

const jsonText = fc.jsonValue({ maxDepth: 4 }).map((value) => JSON.stringify(value) ?? 'null');

/** Profile-shaped JSON whose parts are of the wrong type, tricky, deep or huge. */
const badProfileText: fc.Arbitrary<string> = fc.oneof(
  fc.tuple(hostileEmail, jsonText).map(([email, v]) => profileText(email, { firstName: v })),
  fc.tuple(hostileEmail, jsonText).map(([email, v]) => profileText(email, { id: v })),
  fc.tuple(hostileEmail, jsonText).map(([email, v]) => profileText(email, { ups: v })),
  fc.tuple(hostileEmail, jsonText).map(([email, v]) => profileText(email, { ups: `{"a1":{"status":${v}}}` })),
  jsonText.map((v) => `{"identityMap":${v},"segmentMembership":${REALIZED}}`),
  jsonText.map((v) => `{"identityMap":{"Email":${v}},"segmentMembership":${REALIZED}}`),
  jsonText.map((v) => `{"identityMap":{"Email":[{"id":"a@hostile.example"}]},"segmentMembership":${v}}`),
  // Keys that could reach an object's prototype, at every level the decoder looks at.
  fc.tuple(hostileEmail, trickyKey, jsonText).map(([email, key, v]) => profileText(email, { extra: `"${key}":${v},` })),
  fc
    .tuple(hostileEmail, trickyKey)
    .map(
      ([email, key]) =>
        `{"identityMap":{"${key}":[{"id":"${email}"}],"Email":[{"id":"${email}"}]},"segmentMembership":${REALIZED}}`,
    ),
  fc
    .tuple(hostileEmail, trickyKey)
    .map(([email, key]) => profileText(email, { ups: `{"${key}":{"status":"realized"},"a1":{"status":"realized"}}` })),
  fc
    .tuple(hostileEmail, trickyKey)
    .map(([email, key]) => profileText(email, { ups: `{"${key}":{"a1":{"status":"realized"}}}` })),
  fc
    .tuple(hostileEmail, trickyKey)
    .map(([email, key]) => profileText(email, { firstName: `{"${key}":{"polluted":true}}` })),
  fc
    .tuple(hostileEmail, trickyKey)
    .map(
      ([email, key]) =>
        `{"identityMap":{"Email":[{"id":"${email}","${key}":{"polluted":true}}]},"segmentMembership":${REALIZED}}`,
    ),
  fc.tuple(trickyKey, trickyKey).map(([a, b]) => `{"${a}":{"${b}":{"polluted":true}}}`),
  // Depth where the mapping copies it into the payload, and where the decoder alone sees it.
  fc.tuple(hostileEmail, deep).map(([email, d]) => profileText(email, { firstName: d })),
  fc.tuple(hostileEmail, deep).map(([email, d]) => profileText(email, { id: d })),
  fc.tuple(hostileEmail, deep).map(([email, d]) => profileText(email, { extra: `"deep":${d},` })),
  // Huge strings: a payload too large to send, an identity or an audience no one mapped.
  fc.tuple(hostileEmail, hugeString).map(([email, s]) => profileText(email, { firstName: s })),
  fc.tuple(hostileEmail, hugeString).map(([email, s]) => profileText(email, { id: s })),
  fc.tuple(hostileEmail, hugeString).map(([email, s]) => profileText(email, { ups: `{${s}:{"status":"realized"}}` })),
  // Numbers JSON.parse turns into Infinity or 0, and lone surrogates.
  fc
    .tuple(hostileEmail, fc.constantFrom('1e999', '-1e999', '1e-999', '12345678901234567890123', '-0', '"\\ud800"'))
    .map(([email, v]) => profileText(email, { firstName: v })),
);

/** One frame a hostile producer may send. */
type Frame =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'binary'; readonly bytes: Uint8Array }
  /** An array of profiles, good ones (GOOD) mixed with bad ones. */
  | { readonly kind: 'mixed'; readonly parts: ReadonlyArray<typeof GOOD | string> }
  /** A well-formed profile's bytes with invalid UTF-8 spliced into its first name, in a binary frame. */
  | { readonly kind: 'bad-utf8-binary'; readonly garbage: Uint8Array }
  /** Invalid UTF-8 in a text frame: the protocol forbids it, so the connection closes with 1007. */
  | { readonly kind: 'bad-utf8-text'; readonly garbage: Uint8Array }
  /** Over `maxPayloadBytes`: the connection closes with 1009. */
  | { readonly kind: 'oversized' };

const invalidUtf8 = fc
  .oneof(
    // A stray byte, a BOM's wrong half, an overlong NUL, a surrogate, a five-byte form, a cut-off sequence.
    fc.constantFrom(
      [0xff],
      [0xfe, 0xff],
      [0xc0, 0x80],
      [0xed, 0xa0, 0x80],
      [0xf8, 0x88, 0x80, 0x80, 0x80],
      [0xe2, 0x82],
    ),
    fc.array(fc.integer({ min: 0x80, max: 0xff }), { minLength: 1, maxLength: 16 }),
  )
  .map((bytes) => Uint8Array.from(bytes))
  // Random high bytes can happen to spell a valid sequence (c3 a9 is "é"): keep only what is invalid.
  .filter((bytes) => !isUtf8(bytes));

const clip = (text: string): string =>
  text.length > 80 ? `${JSON.stringify(text.slice(0, 80))}... (${text.length} chars)` : JSON.stringify(text);

/** How a frame reads in a counterexample: short, since some carry a megabyte. */
const shown = (frame: Frame): Frame => {
  const text = (() => {
    switch (frame.kind) {
      case 'text':
        return `text ${clip(frame.text)}`;
      case 'binary':
        return `binary ${frame.bytes.length} bytes ${Buffer.from(frame.bytes.slice(0, 32)).toString('hex')}`;
      case 'mixed':
        return `mixed [${frame.parts.map((p) => (p === GOOD ? 'GOOD' : clip(p))).join(', ')}]`;
      case 'bad-utf8-binary':
      case 'bad-utf8-text':
        return `${frame.kind} ${Buffer.from(frame.garbage).toString('hex')}`;
      case 'oversized':
        return 'oversized';
    }
  })();
  return Object.assign(frame, { [fc.toStringMethod]: () => text });
};

const text = (arbitrary: fc.Arbitrary<string>): fc.Arbitrary<Frame> =>
  arbitrary.map((value): Frame => ({ kind: 'text', text: value }));

/** Odd little messages: empty, blank, JSON that is no profile, JSON cut short, a BOM, a NUL. */
const oddities = fc.constantFrom(
  ...['', ' ', 'null', 'true', '0', '""', '[]', '{}', '[[]]', '[{}]', '\uFEFF{}', '{"identityMap": {', ']', '\u0000'],
);

const frame: fc.Arbitrary<Frame> = fc
  .oneof(
    { weight: 10, arbitrary: text(badProfileText) },
    { weight: 3, arbitrary: text(fc.string({ maxLength: 200, unit: 'binary' })) },
    { weight: 3, arbitrary: text(jsonText) },
    { weight: 3, arbitrary: text(oddities) },
    { weight: 1, arbitrary: text(deep) },
    { weight: 1, arbitrary: text(hugeString) },
    // Many profiles in one message: each element is one update to account for.
    {
      weight: 1,
      arbitrary: text(fc.integer({ min: 100, max: 1_000 }).map((n) => `[${Array(n).fill('1').join(',')}]`)),
    },
    { weight: 3, arbitrary: fc.uint8Array({ maxLength: 512 }).map((bytes): Frame => ({ kind: 'binary', bytes })) },
    { weight: 1, arbitrary: fc.constant<Frame>({ kind: 'binary', bytes: new Uint8Array(0) }) },
    { weight: 2, arbitrary: invalidUtf8.map((garbage): Frame => ({ kind: 'bad-utf8-binary', garbage })) },
    {
      weight: 4,
      arbitrary: fc
        .array(
          fc.oneof(
            fc.constant<typeof GOOD>(GOOD),
            badProfileText.filter((t) => t.length < 50_000),
          ),
          {
            minLength: 1,
            maxLength: 6,
          },
        )
        .map((parts): Frame => ({ kind: 'mixed', parts })),
    },
    { weight: 1, arbitrary: invalidUtf8.map((garbage): Frame => ({ kind: 'bad-utf8-text', garbage })) },
    { weight: 1, arbitrary: fc.constant<Frame>({ kind: 'oversized' }) },
  )
  .map(shown);

/** A batch: each hostile frame, and whether a well-formed neighbour follows it. */
const batch = fc.array(fc.tuple(frame, fc.boolean()), PER_RUN);

/** How many envelopes a message becomes, by the decoder's rule: an array counts one per element. */
const envelopesIn = (data: Buffer): number => {
  try {
    const parsed: unknown = JSON.parse(data.toString('utf8'));
    return Array.isArray(parsed) && parsed.length > 0 ? parsed.length : 1;
  } catch {
    return 1;
  }
};

/** Forced GC without changing .mocharc.json: the flag may be set at run time, then `gc` read from a new context. */
const forcedGc = (): (() => void) | undefined => {
  try {
    setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('gc');
    return typeof gc === 'function' ? () => void (gc as () => void)() : undefined;
  } catch {
    return undefined;
  }
};

const heapAfterGc = (gc: (() => void) | undefined): number => {
  gc?.();
  gc?.();
  return process.memoryUsage().heapUsed;
};

const MB = 1024 * 1024;

/** A producer with acknowledgements (`?ack=1`): notes each message's `{"ack": n}`, sent once its outcome is final. */
class AckingProducer {
  readonly acked = new Set<number>();
  readonly nacked: unknown[] = [];
  sent = 0;
  /** Set if the listener closed this connection: every frame on it is within the protocol's limits. */
  closedWith: number | undefined;

  private constructor(readonly socket: WebSocket) {
    socket.once('close', (code) => (this.closedWith = code));
    socket.on('message', (data) => {
      const reply = JSON.parse(String(data)) as { ack?: number; nack?: number };
      if (reply.ack !== undefined) this.acked.add(reply.ack);
      else this.nacked.push(reply);
    });
  }

  static async connect(url: string): Promise<AckingProducer> {
    const socket = new WebSocket(`${url}?ack=1`, { headers: { authorization: `Bearer ${INGEST_TOKEN}` } });
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    return new AckingProducer(socket);
  }

  send(data: string | Buffer, binary: boolean): void {
    this.sent += 1;
    this.socket.send(data, { binary });
  }

  get settled(): boolean {
    return this.acked.size === this.sent;
  }
}

/** Opens a connection of its own, sends one frame the protocol refuses, and resolves with the close code. */
const refusedFrame = async (url: string, data: Buffer, binary: boolean): Promise<number> => {
  const socket = new WebSocket(url, { headers: { authorization: `Bearer ${INGEST_TOKEN}` } });
  socket.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
  socket.send(data, { binary });
  // A frame the listener took instead of refusing would leave this connection open: fail, do not hang.
  const open = new Promise<number>((resolve) => setTimeout(() => resolve(-1), 5_000).unref());
  const code = await Promise.race([closed, open]);
  socket.terminate();
  return code;
};

/** Well-formed neighbours: each a new identity, so each must arrive exactly once. */
class Neighbours {
  count = 0;
  /** How many times each neighbour's email reached the endpoint, read incrementally. */
  readonly arrivals = new Map<string, number>();
  #read = 0;

  next(): { email: string; text: string } {
    this.count += 1;
    const email = `n${this.count}@good.example`;
    return { email, text: JSON.stringify(updateFor(email, this.count)) };
  }

  countArrivals(standIn: QualtricsStandIn): void {
    for (; this.#read < standIn.requests.length; this.#read += 1) {
      const body = JSON.parse(standIn.requests[this.#read]!.body.toString('utf8')) as Arrived;
      const email = body.identityMap?.Email?.[0]?.id ?? '';
      if (email.endsWith('@good.example')) this.arrivals.set(email, (this.arrivals.get(email) ?? 0) + 1);
    }
  }
}

interface Arrived {
  readonly identityMap?: { readonly Email?: ReadonlyArray<{ readonly id: string }> };
}

/** Every exclusion and failure seen, by `kind:reason`; counted, not kept (100,000 would look like a leak). */
class Outcomes {
  settled = 0;
  readonly reasons = new Set<string>();
  readonly withoutReason: Settlement[] = [];

  see({ outcome, ...rest }: Settlement): void {
    this.settled += 1;
    if (outcome.kind !== 'excluded' && outcome.kind !== 'failed') {
      this.reasons.add(outcome.kind);
      return;
    }
    this.reasons.add(`${outcome.kind}:${outcome.reason}`);
    if (typeof outcome.reason !== 'string' || outcome.reason === '') this.withoutReason.push({ outcome, ...rest });
  }
}

describe('hostile input costs only itself (listen-mode WebSocket, property)', function () {
  this.timeout(120_000);
  let standIn: QualtricsStandIn;
  let started: Started | undefined;
  let directory: string;
  const lines: string[] = [];
  const producers: WebSocket[] = [];

  before(async () => {
    directory = tempDir('qa-hostile-');
    standIn = await QualtricsStandIn.start({ apiToken: API_TOKEN });
    const config = parseConfig(
      `
name: Hostile input
source:
  websocket:
    listen: { port: 0, path: /ingest, token: ${INGEST_TOKEN}, maxPayloadBytes: ${MAX_PAYLOAD_BYTES} }
destination:
  url: ${standIn.url}
  apiToken: ${API_TOKEN}
  auth: header
  allowAnyHost: true
  concurrency: 16
  rateLimit: { requests: 1000000, perSeconds: 1 }
  retry: { maxAttempts: 2, baseMs: 1, maxMs: 5 }
audiences: [{ id: a1 }]
identities: [{ source: Email, target: email }]
attributes: [{ source: person.name.firstName, target: firstName }]
pipeline: { maxInFlight: ${MAX_IN_FLIGHT} }
history: { size: 100 }
deadLetters: { file: ${join(directory, 'dead-letters.jsonl')} }
state: { dir: ${join(directory, 'state')} }
`,
      {},
    );
    // The listener's URL (port 0 picked a free one) is only told in the log; keep the lines that matter.
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString('utf8').split('\n')) {
          if (line.includes('listening for producers') || line.includes('"level":50')) lines.push(line);
        }
        done();
      },
    });
    started = await startFromConfig(config, pino({ level: 'info' }, sink));
  });

  after(async () => {
    for (const socket of producers.splice(0)) socket.terminate();
    try {
      // stop() rejects if the pipeline ended with an error; the listener must close all the same, or
      // mocha would wait for it forever.
      await started?.stop().catch(() => started?.wiring.close());
    } finally {
      await standIn?.close();
      rmSync(directory, { recursive: true, force: true });
    }
  });

  const listenUrl = (): string => {
    const line = lines.find((l) => l.includes('listening for producers'));
    if (!line) throw new Error('the pipeline never said where it listens');
    return (JSON.parse(line) as { url: string }).url;
  };

  const title =
    `settles each of ${AT_LEAST}+ random and malformed messages with a reason, stays up and bounded, ` +
    'and delivers every well-formed neighbour once';
  it(title, async () => {
    const pipeline = started!.flows[0]!.pipeline;
    let crashed: unknown;
    pipeline.done.catch((error: unknown) => (crashed = error));
    const url = listenUrl();
    const gc = forcedGc();
    const neighbours = new Neighbours();
    const outcomes = new Outcomes();
    const watching = pipeline.ledger.settlements$.subscribe((s) => outcomes.see(s));
    let peakInFlight = 0;
    watching.add(pipeline.ledger.inFlight$.subscribe((n) => (peakInFlight = Math.max(peakInFlight, n))));
    let peakHeap = 0;
    const sampler = setInterval(() => (peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed)), 25);

    /** Sends one batch on an acknowledging connection (frame-level refusals on connections of their own). */
    const sendBatch = async (frames: ReadonlyArray<readonly [Frame, boolean]>, producer: AckingProducer) => {
      const goods: string[] = [];
      let envelopes = 0;
      const send = (data: Buffer, binary: boolean): void => {
        envelopes += envelopesIn(data);
        producer.send(data, binary);
      };
      const good = (): string => {
        const next = neighbours.next();
        goods.push(next.email);
        return next.text;
      };
      for (const [hostile, neighbour] of frames) {
        switch (hostile.kind) {
          case 'text':
            send(Buffer.from(hostile.text, 'utf8'), false);
            break;
          case 'binary':
            send(Buffer.from(hostile.bytes), true);
            break;
          case 'mixed':
            send(Buffer.from(`[${hostile.parts.map((p) => (p === GOOD ? good() : p)).join(',')}]`, 'utf8'), false);
            break;
          case 'bad-utf8-binary': {
            const [before, after] = profileText('utf8@hostile.example', { firstName: '"MARK"' }).split('MARK');
            send(Buffer.concat([Buffer.from(before!), hostile.garbage, Buffer.from(after!)]), true);
            break;
          }
          case 'bad-utf8-text': {
            const code = await refusedFrame(url, Buffer.from(hostile.garbage), false);
            expect(code, 'invalid UTF-8 in a text frame').to.equal(1007);
            break;
          }
          case 'oversized': {
            const code = await refusedFrame(url, Buffer.alloc(MAX_PAYLOAD_BYTES + 1, 0x20), false);
            expect(code, 'a frame over maxPayloadBytes').to.equal(1009);
            break;
          }
        }
        if (neighbour) send(Buffer.from(good(), 'utf8'), false);
      }
      return { goods, envelopes };
    };

    let hostileSent = 0;
    let baselineHeap: number | undefined;
    try {
      await fc.assert(
        fc.asyncProperty(batch, async (frames) => {
          const producer = await AckingProducer.connect(url);
          producers.push(producer.socket);
          const before = pipeline.ledger.counts();
          hostileSent += frames.length;
          const { goods, envelopes } = await sendBatch(frames, producer);

          // Every message on the acknowledging connection is answered once its outcome is final.
          const progress = (): string => `${producer.acked.size} of ${producer.sent} acknowledged`;
          const over = (): boolean => producer.settled || producer.closedWith !== undefined || crashed !== undefined;
          await eventually(over, 30_000, progress());
          expect(crashed, 'the pipeline ended with an error').to.equal(undefined);
          expect(producer.closedWith, `listener closed a conforming connection (${progress()})`).to.equal(undefined);
          expect(producer.nacked).to.deep.equal([]);
          producer.socket.removeAllListeners('close');
          producer.socket.close();

          const after = pipeline.ledger.counts();
          expect(after.received - before.received, 'one envelope a message, one an array element').to.equal(envelopes);
          expect(after.inFlight, 'nothing left in flight').to.equal(0);
          expect(after.settled).to.equal(after.received);

          neighbours.countArrivals(standIn);
          for (const email of goods) expect(neighbours.arrivals.get(email), `neighbour ${email}`).to.equal(1);
          // The first batch warms up what is built once (codecs, connections, JIT): measure from after it.
          baselineHeap ??= heapAfterGc(gc);
        }),
        // The pipeline is shared by every run, so a shrunk case would run against one a larger case may
        // have broken: report the case that failed, as it was.
        { numRuns: RUNS, endOnFailure: true },
      );
    } finally {
      clearInterval(sampler);
      watching.unsubscribe();
    }

    expect(hostileSent, 'hostile messages sent').to.be.at.least(AT_LEAST);
    const counts = pipeline.ledger.counts();
    expect(counts.delivered + counts.duplicate + totalOf(counts.excluded) + totalOf(counts.failed)).to.equal(
      counts.received,
    );
    expect(counts.inFlight).to.equal(0);
    expect(outcomes.settled, 'one settlement per envelope').to.equal(counts.received);
    expect(outcomes.withoutReason, 'exclusions and failures without a reason').to.deep.equal([]);
    const reasons = [...outcomes.reasons];
    // An operator error would mean an operator threw on input the decoder let through.
    expect(reasons.filter((r) => r.startsWith('failed:operator-error'))).to.deep.equal([]);
    const expected = ['delivered', 'excluded:invalid-json', 'excluded:invalid-profile', 'failed:payload-too-large'];
    expect(reasons, 'the outcomes hostile input should reach').to.include.members(expected);
    expect(neighbours.arrivals.size, 'every well-formed neighbour arrived').to.equal(neighbours.count);
    expect(
      lines.filter((l) => l.includes('"level":50')),
      'error log lines',
    ).to.deep.equal([]);
    // Nothing reached Object.prototype through a `__proto__` or `constructor` key.
    expect(Object.getOwnPropertyNames(Object.prototype)).not.to.include('polluted');
    expect(({} as Record<string, unknown>).polluted).to.equal(undefined);

    // Bounded. The credit closes the intake at maxInFlight, but what was already read still comes in:
    // the message being decoded then (an array here has up to 1,000 elements, each one envelope) and
    // the frames ws had read from the socket before it paused, at most one 64 KiB read: 32,768
    // envelopes of `1,`. Issue #8 point 7 is about counting those; here it only must not grow without
    // end. What stays after GC is the embedded stores (in-memory dedupe keeps each delivered
    // payload's fingerprint, the delivery log one position per identity: thousands here) and the
    // endpoint's request log: a few MB (5 MB measured). 48 MB of margin still catches a leak of the
    // messages themselves (about 200,000 envelopes and 100 MB of hostile input go through).
    expect(peakInFlight, 'most updates in flight at once').to.be.at.most(MAX_IN_FLIGHT + 32_768);
    const retained = heapAfterGc(gc) - baselineHeap!;
    const how = `${gc ? 'after forced GC' : 'without forced GC'}: ${(retained / MB).toFixed(1)} MB`;
    expect(retained, `heap growth ${how} (peak ${(peakHeap / MB).toFixed(0)} MB)`).to.be.below((gc ? 48 : 256) * MB);
  });
});
