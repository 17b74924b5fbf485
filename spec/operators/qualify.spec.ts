import { expect } from 'chai';
import { isRight } from 'fp-ts/lib/Either.js';
import { exclusionOf, qualify, QualifyOptions } from '../../operators/qualify.js';
import { formatErrors } from '../../operators/model/decode-errors.js';
import type { Profile } from '../../operators/model/profile.js';
import { decodeOrThrow } from '../../operators/model/codecs.js';
import { Books, profileEnvelope, profileOf, testScheduler } from '../helpers/marbles.js';
import { behavesLikeAnOperator } from '../helpers/operator-contract.js';

const A1 = 'aud-1';
const A2 = 'aud-2';
const options = decodeOrThrow(QualifyOptions, {
  audiences: [{ id: A1 }, { id: A2, name: 'Second' }],
  statuses: ['realized', 'exited'],
});

const withMemberships = (ups: Record<string, { status: string; lastQualificationTime?: string }>): Profile =>
  profileOf({ identityMap: { Email: [{ id: 'ann@example.com' }] }, segmentMembership: { ups } });

describe('qualify', () => {
  it('keeps only mapped audiences with a listed status, in mapping order, as {lastQualificationTime, status}', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    scheduler.run(({ cold, expectObservable }) => {
      const envelope = profileEnvelope(
        books.ledger,
        withMemberships({
          unmapped: { status: 'realized', lastQualificationTime: '2026-01-01T00:00:00Z' },
          [A2]: { status: 'exited', lastQualificationTime: '2026-01-02T00:00:00Z' },
          [A1]: { status: 'realized', lastQualificationTime: '2026-01-03T00:00:00Z' },
        }),
      );
      expectObservable(cold('-a-|', { a: envelope }).pipe(qualify(options))).toBe('-a-|', {
        a: {
          ...envelope,
          payload: {
            segmentMembership: {
              ups: {
                [A1]: { lastQualificationTime: '2026-01-03T00:00:00Z', status: 'realized' },
                [A2]: { lastQualificationTime: '2026-01-02T00:00:00Z', status: 'exited' },
              },
            },
          },
        },
      });
    });
    expect(books.settled).to.deep.equal([]);
    expect(Object.keys(books.ledger.counts().excluded)).to.deep.equal([]);
  });

  it('leaves out a membership whose status is not listed, and omits a missing qualification time', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    scheduler.run(({ cold, expectObservable }) => {
      const envelope = profileEnvelope(
        books.ledger,
        withMemberships({ [A1]: { status: 'existing' }, [A2]: { status: 'realized' } }),
      );
      expectObservable(cold('a|', { a: envelope }).pipe(qualify(options))).toBe('a|', {
        a: { ...envelope, payload: { segmentMembership: { ups: { [A2]: { status: 'realized' } } } } },
      });
    });
  });

  it('sends existing memberships when existing is listed', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    scheduler.run(({ cold, expectObservable }) => {
      const envelope = profileEnvelope(books.ledger, withMemberships({ [A1]: { status: 'existing' } }));
      expectObservable(cold('a|', { a: envelope }).pipe(qualify({ ...options, statuses: ['existing'] }))).toBe('a|', {
        a: { ...envelope, payload: { segmentMembership: { ups: { [A1]: { status: 'existing' } } } } },
      });
    });
  });

  it('excludes a profile with no qualifying mapped audience as not-qualified, saying why', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    scheduler.run(({ cold, expectObservable }) => {
      const wrongStatus = profileEnvelope(books.ledger, withMemberships({ [A1]: { status: 'existing' } }), '1');
      const unmapped = profileEnvelope(books.ledger, withMemberships({ other: { status: 'realized' } }), '2');
      const noMemberships = profileEnvelope(books.ledger, profileOf({ identityMap: {} }), '3');
      expectObservable(cold('a-bc|', { a: wrongStatus, b: unmapped, c: noMemberships }).pipe(qualify(options))).toBe(
        '----|',
      );
    });
    expect(books.settled.map(({ frame, outcome }) => ({ frame, outcome }))).to.deep.equal([
      {
        frame: 0,
        outcome: {
          kind: 'excluded',
          reason: 'not-qualified',
          detail: 'mapped audience aud-1 is existing; only realized or exited is sent',
        },
      },
      {
        frame: 2,
        outcome: {
          kind: 'excluded',
          reason: 'not-qualified',
          detail: 'the profile is in none of the 2 mapped audience(s)',
        },
      },
      {
        frame: 3,
        outcome: {
          kind: 'excluded',
          reason: 'not-qualified',
          detail: 'the profile is in none of the 2 mapped audience(s)',
        },
      },
    ]);
  });

  it("names each profile's own statuses in its detail, however many different ones the feed has", () => {
    const notQualified = exclusionOf(options);
    const detailOf = (ups: Record<string, { status: string }>) =>
      (notQualified(profileOf({ segmentMembership: { ups } })) as { detail?: string } | undefined)?.detail;
    // More ways of not qualifying than are kept for reuse: each still reads as its own.
    for (let n = 0; n < 100; n += 1)
      expect(detailOf({ [A1]: { status: `odd-${n}` } })).to.equal(
        `mapped audience aud-1 is odd-${n}; only realized or exited is sent`,
      );
    // Statuses that would read the same if simply joined: aud-1 "a,b" against aud-1 "a" and aud-2 "b".
    expect(detailOf({ [A1]: { status: 'a\u0001b' } })).to.equal(
      'mapped audience aud-1 is a\u0001b; only realized or exited is sent',
    );
    expect(detailOf({ [A1]: { status: 'a' }, [A2]: { status: 'b' } })).to.equal(
      'mapped audience aud-1 is a, aud-2 is b; only realized or exited is sent',
    );
    // Asked again: the outcome kept from the first time says the same.
    expect(detailOf({ [A1]: { status: 'a' }, [A2]: { status: 'b' } })).to.equal(
      'mapped audience aud-1 is a, aud-2 is b; only realized or exited is sent',
    );
  });

  it('does not read inherited properties as audiences', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    scheduler.run(({ cold, expectObservable }) => {
      const envelope = profileEnvelope(books.ledger, withMemberships({}));
      expectObservable(
        cold('a|', { a: envelope }).pipe(
          qualify(decodeOrThrow(QualifyOptions, { audiences: [{ id: 'constructor' }] })),
        ),
      ).toBe('-|');
    });
    expect(books.summary()).to.deep.equal({ '1': 'excluded:not-qualified' });
  });

  describe('options', () => {
    it('default statuses to realized and exited', () => {
      const decoded = QualifyOptions.decode({ audiences: [{ id: 'a' }] });
      expect(isRight(decoded) && decoded.right.statuses).to.deep.equal(['realized', 'exited']);
    });

    it('reject an empty audience list, repeated ids and unknown statuses, each at its path', () => {
      const decoded = QualifyOptions.decode({
        audiences: [{ id: 'a' }, { id: 'a' }],
        statuses: ['realized', 'qualified'],
      });
      expect(isRight(decoded)).to.equal(false);
      if (isRight(decoded)) return;
      expect(formatErrors(decoded.left)).to.deep.equal([
        'audiences[1]: audience "a" is listed twice',
        'statuses[1]: expected realized | exited | existing, got "qualified"',
      ]);
      const empty = QualifyOptions.decode({ audiences: [] });
      expect(isRight(empty) ? [] : formatErrors(empty.left)).to.deep.equal([
        'audiences: expected at least one entry, got an empty list',
      ]);
    });
  });

  behavesLikeAnOperator(() => qualify(options));
});
