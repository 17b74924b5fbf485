import { messageOf } from './model/errors.js';
import type * as t from 'io-ts';
import { isLeft } from 'fp-ts/lib/Either.js';
import { Observable, type OperatorFunction } from 'rxjs';
import { struct } from './model/codecs.js';
import { formatErrors } from './model/decode-errors.js';
import { defineOperator } from './model/define.js';
import { settle, type Envelope } from './model/envelope.js';
import { excluded, Reasons } from './model/outcome.js';
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

const textOf = (message: unknown): string | undefined => {
  if (typeof message === 'string') return message;
  if (Buffer.isBuffer(message)) return message.toString('utf8');
  if (message instanceof ArrayBuffer) return Buffer.from(message).toString('utf8');
  if (Array.isArray(message) && message.every((part) => Buffer.isBuffer(part)))
    return Buffer.concat(message).toString('utf8');
  return undefined;
};

/**
 * Turns each raw message into one envelope per profile it holds (a message may carry one profile
 * object or an array of them).
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
        const text = textOf(envelope.message);
        let parsed: unknown = envelope.message;
        if (text !== undefined) {
          try {
            parsed = JSON.parse(text);
          } catch (error) {
            settle(envelope, excluded(Reasons.invalidJson, `decoding message: ${messageOf(error)}`));
            return;
          }
        }
        if (Array.isArray(parsed) && parsed.length === 0) {
          settle(envelope, excluded(Reasons.emptyMessage, 'decoding message: an empty list holds no profile'));
          return;
        }
        const parts = Array.isArray(parsed) ? parsed : [parsed];
        const tickets = Array.isArray(parsed) ? envelope.ticket.split(parts.length) : [envelope.ticket];
        parts.forEach((part, index) => {
          const root = Array.isArray(parsed) ? `$[${index}]` : '$';
          const origin = Array.isArray(parsed)
            ? { ...envelope.origin, position: `${envelope.origin.position}#${index}` }
            : envelope.origin;
          // Each part keeps its own place in its person's line; the message's list of them stays behind.
          const { turns, ...whole } = envelope;
          const turn = turns?.[index] ?? undefined;
          const partEnvelope: Envelope = {
            ...whole,
            origin,
            ticket: tickets[index]!,
            message: undefined,
            ...(turn ? { turn } : {}),
          };
          const deepAt = tooDeep(part, root, MAX_PROFILE_DEPTH);
          if (deepAt !== undefined) {
            const problem = `${deepAt}: nested deeper than ${MAX_PROFILE_DEPTH} levels`;
            settle(partEnvelope, excluded(Reasons.invalidProfile, `decoding profile at ${problem}`));
            return;
          }
          const decoded = Profile.decode(part);
          if (isLeft(decoded)) {
            const problems = formatErrors(decoded.left, root).join('; ');
            settle(partEnvelope, excluded(Reasons.invalidProfile, `decoding profile at ${problems}`));
            return;
          }
          subscriber.next({ ...partEnvelope, profile: decoded.right });
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
