import { messageOf } from './model/errors.js';
import type * as t from 'io-ts';
import { isLeft } from 'fp-ts/lib/Either.js';
import { Observable, type OperatorFunction } from 'rxjs';
import { copyWith } from './model/copy-with.js';
import { struct } from './model/codecs.js';
import { formatErrors } from './model/decode-errors.js';
import { defineOperator } from './model/define.js';
import { settle, type Envelope } from './model/envelope.js';
import { excluded, type Outcome, Reasons } from './model/outcome.js';
import { Profile } from './model/profile.js';

/** `decode` takes no options; the codec is here so it is defined like every other operator. */
export const DecodeOptions = struct('DecodeOptions', {});
export type DecodeOptions = t.TypeOf<typeof DecodeOptions>;

/**
 * Deeper than any profile Adobe sends (XDM nests a handful of levels), and far shallower than the
 * recursion that serializing and fingerprinting a payload survive (thousands of levels): a mapped
 * attribute nested 50,000 levels deep overflowed the stack in dedupe's fingerprint and ended the
 * whole pipeline (found by spec/adapters/websocket/hostile-input.spec.ts). JSON.parse itself does not
 * recurse, so the limit is checked here, once, before any operator walks the value.
 */
const MAX_PROFILE_DEPTH = 100;

interface Visit {
  readonly value: unknown;
  readonly depth: number;
  readonly parent?: Visit;
  readonly step?: string;
}

/**
 * The path of the first value nested more than `max` levels below `root`, or undefined. Iterative, so
 * that checking depth cannot itself overflow; paths are built only for the value reported.
 */
const tooDeep = (value: unknown, root: string, max: number): string | undefined => {
  const stack: Visit[] = [{ value, depth: 0 }];
  for (let visit = stack.pop(); visit !== undefined; visit = stack.pop()) {
    const current = visit.value;
    if (typeof current !== 'object' || current === null) continue;
    if (visit.depth >= max) {
      const steps: string[] = [];
      for (let at: Visit | undefined = visit; at?.step !== undefined; at = at.parent) steps.unshift(at.step);
      return `${root}${steps.slice(0, 8).join('')}${steps.length > 8 ? '...' : ''}`;
    }
    const depth = visit.depth + 1;
    const parent = visit;
    if (Array.isArray(current)) {
      for (const [i, item] of (current as unknown[]).entries())
        stack.push({ value: item, depth, parent, step: `[${i}]` });
    } else {
      for (const [key, item] of Object.entries(current)) {
        stack.push({ value: item, depth, parent, step: `.${key.slice(0, 60)}` });
      }
    }
  }
  return undefined;
};

/**
 * Whether anything in `value` is nested `max` levels or more below it: `tooDeep`'s test alone, run on
 * every profile, so it allocates nothing per value (no path, no visit record, no entry list); the path
 * is looked for only when there is one to report.
 */
const nestedTooDeep = (value: unknown, max: number): boolean => {
  const values: unknown[] = [value];
  const depths: number[] = [0];
  for (let current = values.pop(); current !== undefined; current = values.pop()) {
    const depth = depths.pop()!;
    if (typeof current !== 'object' || current === null) continue;
    if (depth >= max) return true;
    if (Array.isArray(current)) {
      for (const item of current as unknown[]) {
        if (typeof item !== 'object' || item === null) continue;
        values.push(item);
        depths.push(depth + 1);
      }
    } else {
      for (const key in current) {
        const item = (current as Record<string, unknown>)[key];
        if (typeof item !== 'object' || item === null || !Object.hasOwn(current, key)) continue;
        values.push(item);
        depths.push(depth + 1);
      }
    }
  }
  return false;
};

const textOf = (message: unknown): string | undefined => {
  if (typeof message === 'string') return message;
  if (Buffer.isBuffer(message)) return message.toString('utf8');
  if (message instanceof ArrayBuffer) return Buffer.from(message).toString('utf8');
  if (Array.isArray(message) && message.every((part) => Buffer.isBuffer(part)))
    return Buffer.concat(message).toString('utf8');
  return undefined;
};

/** What a raw message reads as: an outcome for the whole of it, or each of its profiles (or why not). */
type Reading =
  | { readonly kind: 'unreadable'; readonly outcome: Outcome }
  | { readonly kind: 'profiles'; readonly list: boolean; readonly parts: readonly Part[] };

/** One element of a message: its profile, or why it is none. */
type Part = { readonly profile: Profile } | { readonly outcome: Outcome };

const read = (message: unknown): Reading => {
  const text = textOf(message);
  let parsed: unknown = message;
  if (text !== undefined) {
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      return { kind: 'unreadable', outcome: excluded(Reasons.invalidJson, `decoding message: ${messageOf(error)}`) };
    }
  }
  if (Array.isArray(parsed) && parsed.length === 0)
    return {
      kind: 'unreadable',
      outcome: excluded(Reasons.emptyMessage, 'decoding message: an empty list holds no profile'),
    };
  const list = Array.isArray(parsed);
  const elements: unknown[] = list ? (parsed as unknown[]) : [parsed];
  const parts = elements.map((part, index): Part => {
    const root = list ? `$[${index}]` : '$';
    const deepAt = nestedTooDeep(part, MAX_PROFILE_DEPTH) ? tooDeep(part, root, MAX_PROFILE_DEPTH) : undefined;
    if (deepAt !== undefined)
      return {
        outcome: excluded(
          Reasons.invalidProfile,
          `decoding profile at ${deepAt}: nested deeper than ${MAX_PROFILE_DEPTH} levels`,
        ),
      };
    const decoded = Profile.decode(part);
    if (isLeft(decoded))
      return {
        outcome: excluded(Reasons.invalidProfile, `decoding profile at ${formatErrors(decoded.left, root).join('; ')}`),
      };
    return { profile: decoded.right };
  });
  return { kind: 'profiles', list, parts };
};

/**
 * The reading of the message read last, for a message several flows are given (one feed fanned out:
 * the same data object for each, handed to one flow after the other in the same turn) and for one the
 * pipeline's fast path read before `decode` (see `singleProfileOf`): parsed and decoded once, by
 * whichever comes first. A flow that takes a fanned-out message later (held back by its credit while
 * others read on) reads it again: the same reading, at its cost. Only the last one is kept: a WeakMap of
 * every message in flight (as before) kept each reading alive until the garbage collector traced it, and
 * that cost more than the parse saved (hot-path bench: 24.7 -> 20.9 us CPU per not-qualified update
 * without any cache, 17.8-19.4 with this one; a bounded map of the last 64: 23.9-25.3).
 */
let last: { readonly message: object; readonly reading: Reading } | undefined;

const readOnce = (message: unknown): Reading => {
  if (typeof message !== 'object' || message === null) return read(message);
  if (last?.message === message) return last.reading;
  const reading = read(message);
  last = { message, reading };
  return reading;
};

/**
 * The one profile a message holds (a single object, read and decoded, as `decode` would: the reading is
 * kept for `decode`), or undefined for anything else (a list, a message that is not a profile, data
 * that is not an object and so could not be read once only). For the pipeline's fast path.
 */
export const singleProfileOf = (message: unknown): Profile | undefined => {
  if (typeof message !== 'object' || message === null) return undefined;
  const reading = readOnce(message);
  if (reading.kind !== 'profiles' || reading.list) return undefined;
  const [part] = reading.parts;
  return part && 'profile' in part ? part.profile : undefined;
};

/**
 * Turns each raw message into one envelope per profile it holds (a message may carry one profile
 * object or an array of them). A message given to several flows is read once (see `readOnce`).
 *
 * Bad input costs only itself: a message that is not JSON is excluded as `invalid-json`; an element that
 * is not a profile is excluded as `invalid-profile` with the path of what was wrong
 * (`$[2].identityMap.Email[0].id: expected NonEmptyString, got 42`), and its siblings go on.
 *
 * @example
 * messages$.pipe(decode(), qualify({ audiences: ['a1'], statuses: ['realized', 'exited'] }))
 */
export const decode = (): OperatorFunction<Envelope, Envelope> => (source) =>
  new Observable<Envelope>((subscriber) =>
    source.subscribe({
      next(envelope) {
        const reading = readOnce(envelope.message);
        if (reading.kind === 'unreadable') {
          settle(envelope, reading.outcome);
          return;
        }
        const { list, parts } = reading;
        const tickets = list ? envelope.ticket.split(parts.length) : [envelope.ticket];
        // Each part keeps its own place in its person's line; the message's list of them stays behind.
        const { turns, ...whole } = envelope;
        parts.forEach((part, index) => {
          const origin = list
            ? { ...envelope.origin, position: `${envelope.origin.position}#${index}` }
            : envelope.origin;
          const turn = turns?.[index] ?? undefined;
          // One copy per part (this runs for every update): the profile goes in with the rest.
          const partEnvelope: Envelope = copyWith(whole, {
            origin,
            ticket: tickets[index]!,
            message: undefined,
            ...(turn ? { turn } : {}),
            ...('profile' in part ? { profile: part.profile } : {}),
          });
          if ('outcome' in part) settle(partEnvelope, part.outcome);
          else subscriber.next(partEnvelope);
        });
      },
      error: (error: unknown) => subscriber.error(error),
      complete: () => subscriber.complete(),
    }),
  );

export const decodeOperator = defineOperator({
  name: 'decode',
  summary: 'parse raw messages into profile envelopes (one per profile)',
  options: DecodeOptions,
  create: () => decode(),
});
