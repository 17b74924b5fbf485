import * as t from 'io-ts';
import { isLeft } from 'fp-ts/lib/Either.js';
import { describe, formatErrors } from './decode-errors.js';
import { shapeOf, withShape } from './codec-shape.js';
import { closest } from './did-you-mean.js';

export { describe };

/**
 * Small io-ts combinators shared by the config and the operators' options. Every codec here is the one
 * source of its type; messages are written for the person who has to fix the input.
 */

/**
 * A leaf codec whose failure reads as one sentence (`expected an https URL, got "htp://x"`, or
 * `missing (expected an https URL)`) instead of naming the codec's type. Only for leaves: it replaces
 * any nested errors. `show` renders the bad value (a secret's codec never echoes it).
 */
export const withMessage = <A, O>(
  codec: t.Type<A, O>,
  expected: string,
  show: (value: unknown) => string = describe,
): t.Type<A, O> =>
  withShape(
    new t.Type<A, O>(
      codec.name,
      (u): u is A => codec.is(u),
      (u, c) => {
        const decoded = codec.validate(u, c);
        if (!isLeft(decoded)) return decoded;
        return t.failure(
          u,
          c,
          u === undefined ? `missing (expected ${expected})` : `expected ${expected}, got ${show(u)}`,
        );
      },
      (a) => codec.encode(a),
    ),
    { kind: 'described', of: codec, description: expected },
  );

/**
 * A branded string matching `pattern` (`FlowName`, `DottedPath`): the pattern is the brand's check and is
 * recorded as its shape, so the JSON Schema refuses what the decoder refuses (an editor flags `"!!"` as a
 * label). The pattern has no flags: JSON Schema's `pattern` is its source alone.
 */
export const matching = <N extends string, B extends { readonly [K in N]: symbol }>(
  name: N,
  pattern: RegExp,
  expected: string,
): t.Type<t.Branded<string, B>, string, unknown> => {
  if (pattern.flags !== '')
    throw new Error(`${name}: a pattern with flags (${pattern}) cannot be a JSON Schema pattern`);
  return withMessage(
    withShape(
      t.brand(t.string, (s): s is t.Branded<string, B> => pattern.test(s), name),
      { kind: 'string', pattern: pattern.source },
    ),
    expected,
  );
};

export interface NonEmptyStringBrand {
  readonly NonEmptyString: unique symbol;
}
/** A string with at least one character that is not white space (JavaScript's `trim` and `\S` agree on which). */
export const NonEmptyString = withMessage(
  withShape(
    t.brand(t.string, (s): s is t.Branded<string, NonEmptyStringBrand> => s.trim().length > 0, 'NonEmptyString'),
    { kind: 'string', minLength: 1, pattern: '\\S' },
  ),
  'a non-empty string',
);
export type NonEmptyString = t.TypeOf<typeof NonEmptyString>;

/** A value that may be left out, in which case `fallback` is used. */
export const withDefault = <C extends t.Mixed>(codec: C, fallback: t.TypeOf<C>): t.Type<t.TypeOf<C>, t.OutputOf<C>> =>
  withShape(
    new t.Type<t.TypeOf<C>, t.OutputOf<C>>(
      codec.name,
      (u): u is t.TypeOf<C> => codec.is(u),
      (u, c) => (u === undefined ? t.success(fallback) : codec.validate(u, c)),
      (a) => codec.encode(a),
    ),
    { kind: 'default', of: codec, fallback },
  );

/** An array with at least one element. */
export const nonEmptyArray = <C extends t.Mixed>(
  item: C,
  name = `non-empty list of ${item.name}`,
): t.Type<Array<t.TypeOf<C>>, Array<t.OutputOf<C>>> => {
  const array = t.array(item);
  const codec = new t.Type<Array<t.TypeOf<C>>, Array<t.OutputOf<C>>>(
    name,
    (u): u is Array<t.TypeOf<C>> => array.is(u) && u.length > 0,
    (u, c) => {
      const decoded = array.validate(u, c);
      if (isLeft(decoded)) return decoded;
      return decoded.right.length > 0 ? decoded : t.failure(u, c, 'expected at least one entry, got an empty list');
    },
    (a) => array.encode(a),
  );
  return withShape(codec, { kind: 'array', of: item, minItems: 1 });
};

/** An integer in [min, max]. */
export const integerIn = (min: number, max: number): t.Type<number> =>
  withMessage(
    withShape(
      new t.Type<number>(
        `integer from ${min} to ${max}`,
        (u): u is number => Number.isInteger(u) && (u as number) >= min && (u as number) <= max,
        (u, c) =>
          Number.isInteger(u) && (u as number) >= min && (u as number) <= max
            ? t.success(u as number)
            : t.failure(u, c),
        t.identity,
      ),
      { kind: 'integer', min, max },
    ),
    `an integer from ${min} to ${max}`,
  );

/** `; did you mean "retry"?` for a key near a known one, else nothing. */
const didYouMean = (key: string, known: Iterable<string>): string => {
  const near = closest(key, known);
  return near === undefined ? '' : `; did you mean ${JSON.stringify(near)}?`;
};

type RequiredOf<R extends t.Props> = { [K in keyof R]: t.TypeOf<R[K]> };
type OptionalOf<O extends t.Props> = { [K in keyof O]?: t.TypeOf<O[K]> };
type Flatten<T> = { [K in keyof T]: T[K] };
export type StructOf<R extends t.Props, O extends t.Props> = Flatten<RequiredOf<R> & OptionalOf<O>>;

/** A `struct` codec, carrying its keys so a larger codec can take them over (`...EmitOptions.required`). */
export interface StructCodec<R extends t.Props = t.Props, O extends t.Props = t.Props>
  extends t.Type<StructOf<R, O>, unknown> {
  readonly required: R;
  readonly optional: O;
}

/**
 * An object with required and optional keys. Closed by default: a key that is neither is an error
 * ("unknown key"), so a typo in a config is reported instead of silently ignored. `open: true` keeps
 * unknown keys (a profile carries any XDM attributes).
 */
export const struct = <R extends t.Props, O extends t.Props = Record<never, never>>(
  name: string,
  required: R,
  optional: O = {} as O,
  { open = false }: { open?: boolean } = {},
): StructCodec<R, O> => {
  const known = new Set([...Object.keys(required), ...Object.keys(optional)]);
  // Listed once, not on every value: `Object.entries` in `validate` allocated 1.7 KB of the 31 KB a
  // qualified update did (BENCHMARKS.md, "fifth session"). Required keys first, as they are reported.
  const keys: ReadonlyArray<readonly [key: string, codec: t.Mixed, isRequired: boolean]> = [
    ...Object.entries(required).map(([key, codec]) => [key, codec, true] as const),
    ...Object.entries(optional).map(([key, codec]) => [key, codec, false] as const),
  ];
  const validate = (u: unknown, c: t.Context): t.Validation<StructOf<R, O>> => {
    if (!t.UnknownRecord.is(u))
      return t.failure(
        u,
        c,
        u === undefined && c.length > 1 ? 'missing' : `expected an object (${name}), got ${describe(u)}`,
      );
    const errors: t.ValidationError[] = [];
    // The value itself while every key decodes to what it holds (as io-ts' own `type` answers); a copy
    // once one decodes to something else (a default filled in, a value converted).
    let result: Record<string, unknown> = u;
    for (const [key, codec, isRequired] of keys) {
      const value = u[key];
      if (!isRequired && value === undefined) continue;
      const decoded = codec.validate(value, t.appendContext(c, key, codec, value));
      if (isLeft(decoded)) errors.push(...decoded.left);
      else if (decoded.right !== undefined && decoded.right !== value) {
        if (result === u) result = { ...u };
        result[key] = decoded.right;
      }
    }
    if (!open) {
      for (const key of Object.keys(u)) {
        if (known.has(key)) continue;
        errors.push({
          value: u[key],
          context: t.appendContext(c, key, t.unknown, u[key]),
          message: `unknown key (expected one of: ${[...known].join(', ')})${didYouMean(key, known)}`,
        });
      }
    }
    return errors.length > 0 ? t.failures(errors) : t.success(result as StructOf<R, O>);
  };
  const codec = new t.Type<StructOf<R, O>, unknown>(
    name,
    (u): u is StructOf<R, O> => !isLeft(validate(u, [])),
    validate,
    t.identity,
  );
  return Object.assign(withShape(codec, { kind: 'struct', required, optional, open }), { required, optional });
};

/**
 * The part of an already decoded `value` that `codec` describes: a section a larger codec took over
 * (`pick(QualifyOptions, config)` is `{ audiences, statuses }`). Nothing is decoded again.
 */
export const pick = <R extends t.Props, O extends t.Props>(
  codec: StructCodec<R, O>,
  value: StructOf<R, O>,
): StructOf<R, O> => {
  const section: Record<string, unknown> = {};
  for (const key of [...Object.keys(codec.required), ...Object.keys(codec.optional)])
    if ((value as Record<string, unknown>)[key] !== undefined) section[key] = (value as Record<string, unknown>)[key];
  return section as StructOf<R, O>;
};

/** A section that may be left out entirely, then taking every default its codec declares. */
export const withDefaults = <A>(codec: t.Type<A, unknown>): t.Type<A, unknown> =>
  withDefault(codec, decodeOrThrow(codec, {}));

/**
 * Exactly one of several keys, each with its own codec (`source: { websocket } | { redisStream }`). The
 * type is a union the compiler can narrow (`if (source.websocket)`), so no non-null assertion is needed
 * where one branch is known; none, two, or an unknown key is an error naming the keys.
 */
export type OneOf<B extends t.Props> = {
  [K in keyof B]: { readonly [P in K]: t.TypeOf<B[K]> } & { readonly [P in Exclude<keyof B, K>]?: undefined };
}[keyof B];

export const oneOf = <B extends t.Props>(name: string, branches: B): t.Type<OneOf<B>, unknown> => {
  const keys = Object.keys(branches);
  // `a or b`, `a, b or c`.
  const choices = keys.length > 1 ? `${keys.slice(0, -1).join(', ')} or ${keys[keys.length - 1]}` : keys.join('');
  const validate = (u: unknown, c: t.Context): t.Validation<OneOf<B>> => {
    if (!t.UnknownRecord.is(u))
      return t.failure(
        u,
        c,
        u === undefined && c.length > 1
          ? `missing (set ${choices})`
          : `expected an object (${name}), got ${describe(u)}`,
      );
    const unknown = Object.keys(u).filter((key) => !keys.includes(key));
    if (unknown.length > 0)
      return t.failures(
        unknown.map((key) => ({
          value: u[key],
          context: t.appendContext(c, key, t.unknown, u[key]),
          message: `unknown key (expected one of: ${keys.join(', ')})${didYouMean(key, keys)}`,
        })),
      );
    const present = keys.filter((key) => u[key] !== undefined);
    const [key] = present;
    if (key === undefined || present.length > 1) return t.failure(u, c, `set exactly one of ${choices}`);
    const codec = branches[key]!;
    const decoded = codec.validate(u[key], t.appendContext(c, key, codec, u[key]));
    return isLeft(decoded) ? decoded : t.success({ [key]: decoded.right } as OneOf<B>);
  };
  return withShape(
    new t.Type<OneOf<B>, unknown>(name, (u): u is OneOf<B> => !isLeft(validate(u, [])), validate, t.identity),
    { kind: 'oneOf', branches },
  );
};

/**
 * One of several codecs, the branch chosen by looking at the input (`listen` present: a listening
 * WebSocket; else a client). `choose` may instead return problems, for inputs that fit no branch, so the
 * message says what to do rather than listing every branch's failures. The type is the members' union.
 */
export const unionBy = <C extends t.Mixed>(
  name: string,
  members: readonly C[],
  choose: (u: Record<string, unknown>) => NoInfer<C> | readonly Problem[],
): t.Type<t.TypeOf<C>, unknown> => {
  const validate = (u: unknown, c: t.Context): t.Validation<t.TypeOf<C>> => {
    if (!t.UnknownRecord.is(u))
      return t.failure(
        u,
        c,
        u === undefined && c.length > 1 ? 'missing' : `expected an object (${name}), got ${describe(u)}`,
      );
    const chosen = choose(u);
    if (!Array.isArray(chosen)) {
      if (!members.includes(chosen as C)) throw new Error(`${name}: choose returned a codec that is not a member`);
      return (chosen as C).validate(u, c);
    }
    return t.failures(
      (chosen as readonly Problem[]).map((problem) => ({
        value: u,
        context: problem.path.reduce<t.Context>(
          (context, key) => t.appendContext(context, String(key), t.unknown, undefined),
          c,
        ),
        message: problem.message,
      })),
    );
  };
  return withShape(
    new t.Type<t.TypeOf<C>, unknown>(name, (u): u is t.TypeOf<C> => !isLeft(validate(u, [])), validate, t.identity),
    { kind: 'anyOf', members },
  );
};

/** One problem found by a cross-field check: where (relative to the checked value) and what. */
export interface Problem {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

/**
 * A codec with checks that span several fields (the URL is https unless `allowAnyHost`, say). Each
 * problem is reported at its own path, like any decoding error.
 */
export const refine = <A, O>(codec: t.Type<A, O>, check: (value: A) => readonly Problem[]): t.Type<A, O> =>
  withShape(
    new t.Type<A, O>(
      codec.name,
      (u): u is A => codec.is(u) && check(u).length === 0,
      (u, c) => {
        const decoded = codec.validate(u, c);
        if (isLeft(decoded)) {
          // Report the checks' problems now too, so a person fixes everything in one pass.
          const more = checkPart(codec, u, check);
          return more.length === 0 ? decoded : t.failures([...decoded.left, ...toErrors(more, u, c)]);
        }
        const problems = check(decoded.right);
        if (problems.length === 0) return decoded;
        return t.failures(toErrors(problems, u, c));
      },
      (a) => codec.encode(a),
    ),
    { kind: 'like', of: codec },
  );

/**
 * A struct's cross-field checks run over the keys that did decode, when others did not: each key decoded
 * alone (defaults applied), the check's problems kept where they concern only good keys. A check that
 * needs a bad key throws or says nothing; either way it is left for after the fix.
 */
const checkPart = <A>(codec: t.Mixed, u: unknown, check: (value: A) => readonly Problem[]): readonly Problem[] => {
  const shape = shapeOf(codec);
  if (shape?.kind !== 'struct' || !t.UnknownRecord.is(u)) return [];
  const part: Record<string, unknown> = {};
  const bad = new Set<string>();
  for (const [key, keyCodec] of Object.entries({ ...shape.required, ...shape.optional })) {
    const decoded = keyCodec.validate(u[key], []);
    if (isLeft(decoded)) bad.add(key);
    else if (decoded.right !== undefined) part[key] = decoded.right;
  }
  try {
    return check(part as A).filter((problem) => !bad.has(String(problem.path[0])));
  } catch {
    return [];
  }
};

const toErrors = (problems: readonly Problem[], u: unknown, c: t.Context): t.ValidationError[] =>
  problems.map((problem) => {
    let context = c;
    let value: unknown = u;
    for (const key of problem.path) {
      value = t.UnknownRecord.is(value) || Array.isArray(value) ? (value as Record<string, unknown>)[key] : undefined;
      context = t.appendContext(context, String(key), t.unknown, value);
    }
    return { value, context, message: problem.message };
  });

/** A check for `refine`: no two items of a list share a key (`audience "a1" is listed twice`). */
export const distinctBy =
  <A>(keyOf: (item: A) => string, what: string) =>
  (items: readonly A[]): Problem[] =>
    items.flatMap((item, index) =>
      items.findIndex((other) => keyOf(other) === keyOf(item)) < index
        ? [{ path: [index], message: `${what} ${JSON.stringify(keyOf(item))} is listed twice` }]
        : [],
    );

/** Thrown by `decodeOrThrow`: every problem, one line each, at its path. */
export class DecodeError extends Error {
  override readonly name = 'DecodeError';

  constructor(
    readonly what: string,
    readonly problems: readonly string[],
  ) {
    super(`${what}: ${problems.join('; ')}`);
  }
}

/**
 * Decodes or throws a `DecodeError`: for options written in code (tests, plug-in authors), where a
 * bad value is a programming error. Config files go through the pipeline's loader, which collects
 * every problem instead.
 */
export const decodeOrThrow = <A>(codec: t.Type<A, unknown>, value: unknown, what = codec.name): A => {
  const decoded = codec.decode(value);
  if (isLeft(decoded)) throw new DecodeError(what, formatErrors(decoded.left));
  return decoded.right;
};
