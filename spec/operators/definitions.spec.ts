import { expect } from 'chai';
import * as t from 'io-ts';
import { MemoryDedupeStore } from '../../adapters/memory/dedupe-store.js';
import { decodeOperator } from '../../operators/decode.js';
import { dedupeOperator } from '../../operators/dedupe.js';
import { emitOperator } from '../../operators/emit.js';
import { fromDeadLetter, fromDeadLetterOperator } from '../../operators/from-dead-letter.js';
import { keepOrderOperator } from '../../operators/keep-order.js';
import { identityKey } from '../../operators/model/envelope.js';
import type { OperatorDefinition } from '../../operators/model/define.js';
import { projectAttributesOperator } from '../../operators/project-attributes.js';
import { qualifyOperator } from '../../operators/qualify.js';
import { selectIdentityOperator } from '../../operators/select-identity.js';
import { testOperator } from '../../operators/testing.js';
import { decodeOrThrow } from '../../operators/model/codecs.js';
import { isJsonObject } from '../../operators/model/json.js';
import { excluded } from '../../operators/model/outcome.js';
import { testContext } from '../helpers/contexts.js';
import { Books, messageEnvelope, testScheduler } from '../helpers/marbles.js';
import { behavesLikeAnOperator } from '../helpers/operator-contract.js';

const profile = {
  person: { name: { firstName: 'Ann' } },
  identityMap: { Email: [{ id: 'Ann@Example.com' }] },
  segmentMembership: { ups: { a1: { status: 'realized' } } },
};

/** Problems a definition's codec finds in `options`, as `validate` would print them. */
const optionProblems = (definition: OperatorDefinition, options: unknown): string => {
  try {
    decodeOrThrow(definition.options, options);
    return '';
  } catch (error) {
    return (error as Error).message;
  }
};

// The pipeline builds every operator through its definition (as it builds a plug-in), so a definition
// is the operator as a config file sees it: its name, its summary, its options' codec and `create`.
describe('built-in operator definitions', () => {
  const definitions: ReadonlyArray<[OperatorDefinition, string]> = [
    [decodeOperator, 'decode'],
    [qualifyOperator, 'qualify'],
    [selectIdentityOperator, 'selectIdentity'],
    [projectAttributesOperator, 'projectAttributes'],
    [keepOrderOperator, 'keepOrder'],
    [dedupeOperator, 'dedupe'],
    [emitOperator, 'emit'],
    [fromDeadLetterOperator, 'fromDeadLetter'],
  ];

  it('are named as config files name them, each with a one-line summary', () => {
    for (const [definition, name] of definitions) {
      expect(definition.name).to.equal(name);
      expect(definition.summary, name).to.match(/^[a-z].{20,}$/);
      expect(definition.summary, name).to.not.include('\n');
    }
  });

  it('name their options codec in every problem', () => {
    expect(optionProblems(decodeOperator, { x: 1 })).to.equal('DecodeOptions: x: unknown key (expected one of: )');
    expect(optionProblems(qualifyOperator, {})).to.match(
      /^QualifyOptions: audiences: missing \(expected non-empty list of \{id, name\?\}\)/,
    );
    expect(optionProblems(qualifyOperator, { audiences: [{ id: 'a' }, { id: 'a', name: 1 }] })).to.equal(
      'QualifyOptions: audiences[1].name: expected string, got 1',
    );
    expect(optionProblems(selectIdentityOperator, { identities: [] })).to.equal(
      'SelectIdentityOptions: identities: expected at least one entry, got an empty list',
    );
    expect(optionProblems(selectIdentityOperator, { identities: [{ source: 'Email', target: 'phone' }] })).to.equal(
      'SelectIdentityOptions: identities[0].target: expected email | external_id, got "phone"',
    );
    expect(optionProblems(projectAttributesOperator, { attributes: 'x' })).to.equal(
      'ProjectAttributesOptions: attributes: expected list of {source, target}, got "x"',
    );
    expect(optionProblems(keepOrderOperator, { x: 1 })).to.equal(
      'KeepOrderOptions: x: unknown key (expected one of: pollMs, lostAfterMs)',
    );
    expect(optionProblems(dedupeOperator, { ttlSeconds: 0 })).to.equal(
      'DedupeOptions: ttlSeconds: expected an integer from 1 to 31536000, got 0',
    );
    expect(optionProblems(fromDeadLetterOperator, { any: true })).to.equal(
      'FromDeadLetterOptions: any: unknown key (expected one of: )',
    );
  });

  it('default what a config may leave out', () => {
    expect(decodeOrThrow(dedupeOperator.options, {})).to.deep.equal({
      ttlSeconds: 604_800,
      leaseSeconds: 60,
      pollMs: 250,
    });
    expect(decodeOrThrow(emitOperator.options, {})).to.deep.equal({
      concurrency: 8,
      maxPayloadBytes: 100_000,
      retry: { maxAttempts: 10, baseMs: 500, maxMs: 30_000, downAfter: 5 },
    });
  });

  it('create working operators: a profile goes through the whole chain from the definitions alone', async () => {
    const context = testContext(undefined);
    const step = async (definition: OperatorDefinition, options: unknown, payload = {}) =>
      testOperator(definition, options, [{ profile, payload }], context);
    const qualified = await step(qualifyOperator, { audiences: [{ id: 'a1' }] });
    expect(qualified.passed).to.have.length(1);
    const notQualified = await step(qualifyOperator, { audiences: [{ id: 'other' }] });
    expect(notQualified.settled.map((s) => s.outcome)).to.deep.equal([
      excluded('not-qualified', 'the profile is in none of the 1 mapped audience(s)'),
    ]);
    const identified = await step(selectIdentityOperator, { identities: [{ source: 'Email', target: 'email' }] });
    expect(identified.passed[0]!.identity).to.deep.equal({
      namespace: 'Email',
      target: 'email',
      id: 'Ann@Example.com',
    });
    const projected = await step(projectAttributesOperator, {
      attributes: [{ source: 'person.name.firstName', target: 'firstName' }],
    });
    expect(projected.passed[0]!.payload).to.deep.equal({ firstName: 'Ann' });

    // emit from its definition posts the payload as built; dedupe from its definition needs an identity.
    const sent: string[] = [];
    const sender = { send: (body: string) => (sent.push(body), [{ status: 202, body: '' }]) };
    const emitted = await testOperator(emitOperator, {}, [{ profile, payload: { firstName: 'Ann' } }], {
      ...context,
      sender,
    });
    expect(sent).to.deep.equal(['{"firstName":"Ann"}']);
    expect(emitted.settled.map((s) => s.outcome)).to.deep.equal([{ kind: 'delivered', status: 202, attempts: 1 }]);
    const deduped = await testOperator(dedupeOperator, {}, [{ profile }], {
      ...context,
      dedupeStore: new MemoryDedupeStore(),
    });
    expect(deduped.settled.map((s) => s.outcome)).to.deep.equal([
      {
        kind: 'failed',
        reason: 'operator-error',
        detail: 'dedupe: the envelope has no identity; selectIdentity must run first',
      },
    ]);
    expect(identityKey(identified.passed[0]!.identity!)).to.equal('email:ann@example.com');
  });

  it('decode from its definition turns a message into envelopes', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const positions: string[] = [];
    scheduler.run(({ cold }) => {
      const source = cold('a|', { a: messageEnvelope(books.ledger, JSON.stringify([profile, profile]), '4-0') });
      source
        .pipe(decodeOperator.create({}, testContext(scheduler)))
        .subscribe((e) => positions.push(e.origin.position));
    });
    expect(positions).to.have.length(2);
    expect(new Set(positions).size).to.equal(2);
  });
});

describe('testOperator (the plug-in author helper)', () => {
  it('decodes the options through the definition, naming the operator, and runs each profile', async () => {
    const definition = {
      name: 'tagAll',
      summary: 'tag every payload',
      options: t.type({ tag: t.string }),
      create: (options: { tag: string }) =>
        qualifyOperator.create(
          decodeOrThrow(qualifyOperator.options, { audiences: [{ id: options.tag }] }),
          testContext(undefined),
        ),
    } satisfies OperatorDefinition;
    const { passed, settled } = await testOperator(definition, { tag: 'a1' }, [{ profile }, { profile: {} }]);
    expect(passed).to.have.length(1);
    expect(passed[0]!.origin).to.deep.equal({ source: 'test', position: '1-0' });
    expect(passed[0]!.payload).to.deep.equal({ segmentMembership: { ups: { a1: { status: 'realized' } } } });
    expect(settled.map((s) => [s.origin.position, s.outcome.kind])).to.deep.equal([['2-0', 'excluded']]);
    // An input's identity and payload are the envelope's, as selectIdentity and an earlier operator would set them.
    const identity = { namespace: 'Email', target: 'email' as const, id: 'ann@example.com' };
    const given = await testOperator(definition, { tag: 'a1' }, [{ profile, identity, payload: { kept: true } }]);
    expect(given.passed.map((e) => [e.identity, e.payload])).to.deep.equal([
      [identity, { kept: true, segmentMembership: { ups: { a1: { status: 'realized' } } } }],
    ]);
    await testOperator(definition, { tag: 3 }, []).then(
      () => expect.fail('expected the options to be refused'),
      (error: Error) => expect(error.message).to.match(/^tagAll options: tag: /),
    );
    await testOperator(definition, { tag: 'a1' }, [{ profile: { identityMap: 3 } }]).then(
      () => expect.fail('expected the profile to be refused'),
      (error: Error) => expect(error.message).to.match(/^profile: identityMap: /),
    );
    const defaults = await testOperator(fromDeadLetterOperator, undefined, []);
    expect(defaults).to.deep.equal({ passed: [], settled: [], faults: [] });
    // Built from its definition, it reads the message (a profile is no letter).
    const redriven = await testOperator(fromDeadLetterOperator, undefined, [{ profile: {} }]);
    expect(redriven.settled.map(({ outcome }) => outcome)).to.deep.equal([
      excluded('invalid-dead-letter', '(top level): expected an object (dead letter), got nothing'),
    ]);
  });
});

describe('isJsonObject', () => {
  it('is true for objects only: not null, lists or other values', () => {
    expect([{}, { a: 1 }, [], null, 'x', 1, true, undefined].map(isJsonObject)).to.deep.equal([
      true,
      true,
      false,
      false,
      false,
      false,
      false,
      false,
    ]);
  });
});

describe('fromDeadLetter', () => {
  const letter = (fields: Record<string, unknown>) => fields;

  it('gives back the exact payload and the identity it was for, keeping the letter position', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const passed: unknown[] = [];
    scheduler.run(({ cold }) => {
      const envelopes = {
        a: messageEnvelope(
          books.ledger,
          letter({ payload: '{"b":1,"a":[2]}', identity: 'email:Ann@example.com', reason: 'x' }),
          '7-1',
        ),
        b: messageEnvelope(books.ledger, letter({ payload: '{"c":true}', identity: 'external_id:e:1' }), '8-0'),
        c: messageEnvelope(books.ledger, letter({ payload: '{"d":null}' }), '9-0'),
      };
      cold('abc|', envelopes)
        .pipe(fromDeadLetter())
        .subscribe((e) =>
          passed.push({ position: e.origin.position, payload: e.payload, identity: e.identity, message: e.message }),
        );
    });
    expect(passed).to.deep.equal([
      {
        position: '7-1',
        payload: { b: 1, a: [2] },
        identity: { namespace: 'redrive', target: 'email', id: 'Ann@example.com' },
        message: undefined,
      },
      {
        position: '8-0',
        payload: { c: true },
        identity: { namespace: 'redrive', target: 'external_id', id: 'e:1' },
        message: undefined,
      },
      { position: '9-0', payload: { d: null }, identity: undefined, message: undefined },
    ]);
    expect(books.settled).to.deep.equal([]);
  });

  it('leaves the identity out when the key is not one (no target, an unknown one, nothing after the colon)', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const identities: unknown[] = [];
    scheduler.run(({ cold }) => {
      const keys = ['ann@example.com', ':ann@example.com', 'phone:123', 'email', 'emails:a@b.c'];
      const envelopes = Object.fromEntries(
        keys.map((identity, i) => [
          String.fromCharCode(97 + i),
          messageEnvelope(books.ledger, { payload: '{}', identity }, String(i)),
        ]),
      );
      cold('abcde|', envelopes)
        .pipe(fromDeadLetter())
        .subscribe((e) => identities.push(e.identity));
    });
    expect(identities).to.deep.equal([undefined, undefined, undefined, undefined, undefined]);
  });

  it('excludes a letter that cannot be sent again as invalid-dead-letter, saying why', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    scheduler.run(({ cold, expectObservable }) => {
      const envelopes = {
        a: messageEnvelope(books.ledger, { identity: 'email:a@b.c' }, '1'),
        b: messageEnvelope(books.ledger, { payload: '  ' }, '2'),
        c: messageEnvelope(books.ledger, { payload: '[1]' }, '3'),
        d: messageEnvelope(books.ledger, 'text', '4'),
        e: messageEnvelope(books.ledger, { payload: '{}', identity: 3 }, '5'),
        f: messageEnvelope(books.ledger, { payload: 1, identity: 2 }, '6'),
      };
      expectObservable(cold('abcdef|', envelopes).pipe(fromDeadLetter())).toBe('------|');
    });
    expect(books.settled.map((s) => s.outcome)).to.deep.equal([
      excluded('invalid-dead-letter', 'payload: missing (expected a non-empty string)'),
      excluded('invalid-dead-letter', 'payload: expected a non-empty string, got "  "'),
      excluded('invalid-dead-letter', 'payload: expected a JSON object'),
      excluded('invalid-dead-letter', '(top level): expected an object (dead letter), got "text"'),
      excluded('invalid-dead-letter', 'identity: expected string, got 3'),
      excluded('invalid-dead-letter', 'payload: expected a non-empty string, got 1; identity: expected string, got 2'),
    ]);
  });

  // Once a runtime bug: JSON.parse threw inside the step, which perEnvelope settled as operator-error.
  it('excludes a letter whose payload is not JSON as invalid-dead-letter', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    scheduler.run(({ cold }) => {
      cold('a|', { a: messageEnvelope(books.ledger, { payload: '{not json' }) })
        .pipe(fromDeadLetter())
        .subscribe();
    });
    let parseError = '';
    try {
      JSON.parse('{not json');
    } catch (error) {
      parseError = (error as Error).message;
    }
    expect(books.settled[0]!.outcome).to.deep.equal(
      excluded('invalid-dead-letter', `payload: not JSON (${parseError})`),
    );
  });

  it("takes the letter's source, if it names one: the position is that stream's (for the stale rule)", () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const origins: unknown[] = [];
    scheduler.run(({ cold }) => {
      cold('ab|', {
        a: messageEnvelope(books.ledger, { payload: '{}', source: 'redis:updates' }, '7-1'),
        b: messageEnvelope(books.ledger, { payload: '{}' }, '8-0'),
      })
        .pipe(fromDeadLetter())
        .subscribe((e) => origins.push(e.origin));
    });
    expect(origins).to.deep.equal([
      { source: 'redis:updates', position: '7-1' },
      { source: 'test', position: '8-0' },
    ]);
  });

  behavesLikeAnOperator(() => fromDeadLetter());
});
