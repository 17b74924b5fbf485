import type * as t from 'io-ts';

/**
 * What a codec built with `new t.Type` (the combinators in codecs.ts, a URL check) accepts, in terms a
 * JSON Schema or an environment-variable naming rule can be derived from. io-ts' own types describe
 * themselves by `_tag`; a custom type has no such field, so its maker records its shape here, once.
 */
export type Shape =
  /** An object with closed (or `open`) keys. */
  | { readonly kind: 'struct'; readonly required: t.Props; readonly optional: t.Props; readonly open: boolean }
  /** May be left out; then `fallback`. */
  | { readonly kind: 'default'; readonly of: t.Mixed; readonly fallback: unknown }
  /** `of`, with a sentence saying what is expected. */
  | { readonly kind: 'described'; readonly of: t.Mixed; readonly description: string }
  | { readonly kind: 'integer'; readonly min: number; readonly max: number }
  | { readonly kind: 'number'; readonly min: number; readonly max: number }
  /**
   * A string; `pattern` is an ECMAScript regular expression's source (what JSON Schema's `pattern` takes);
   * `writeOnly` marks a secret (JSON Schema's annotation for a value never shown back, like a password).
   */
  | {
      readonly kind: 'string';
      readonly pattern?: string;
      readonly format?: string;
      readonly minLength?: number;
      readonly writeOnly?: boolean;
    }
  | { readonly kind: 'array'; readonly of: t.Mixed; readonly minItems: number }
  /** Exactly one of these keys, each with its codec. */
  | { readonly kind: 'oneOf'; readonly branches: t.Props }
  /** Any one of these codecs. */
  | { readonly kind: 'anyOf'; readonly members: readonly t.Mixed[] }
  /** Accepts what `of` accepts (a refinement with checks a schema cannot state). */
  | { readonly kind: 'like'; readonly of: t.Mixed };

const shapes = new WeakMap<object, Shape>();

/** Records what `codec` accepts; returns the codec. */
export const withShape = <C extends t.Mixed>(codec: C, shape: Shape): C => {
  shapes.set(codec, shape);
  return codec;
};

/** The recorded shape of a custom codec, if its maker recorded one. */
export const shapeOf = (codec: t.Mixed): Shape | undefined => shapes.get(codec);
