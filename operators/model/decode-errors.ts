import type * as t from 'io-ts';

/** A short, readable rendering of a bad value for an error message. */
export const describe = (value: unknown): string => {
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return value.length === 0 ? 'an empty list' : `a list of ${value.length}`;
  if (typeof value === 'object' && value !== null) return 'an object';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
};

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$-]*$/;
/** Types whose context entries do not stand for a step into the value. */
const TRANSPARENT = new Set(['IntersectionType', 'UnionType', 'RefinementType', 'ExactType']);

interface Tagged {
  readonly _tag?: string;
}

/** `identityMap.Email[0].id` for a decoding context; `root` is put in front (`$` for a profile). */
export const pathOf = (context: t.Context, root = ''): string => {
  let path = root;
  for (let i = 1; i < context.length; i++) {
    const parent = context[i - 1]!;
    const entry = context[i]!;
    if (TRANSPARENT.has((parent.type as Tagged)._tag ?? '')) continue;
    // Wrapping codecs (nonEmptyArray, say) hide the array type, so look at the value itself.
    if (Array.isArray(parent.actual)) path += `[${entry.key}]`;
    else if (IDENTIFIER.test(entry.key)) path += path === '' ? entry.key : `.${entry.key}`;
    else path += `[${JSON.stringify(entry.key)}]`;
  }
  return path;
};

const problemOf = (error: t.ValidationError): string => {
  if (error.message) return error.message;
  const expected = error.context[error.context.length - 1]?.type.name ?? 'a valid value';
  if (error.value === undefined) return `missing (expected ${expected})`;
  return `expected ${expected}, got ${describe(error.value)}`;
};

/**
 * Turns io-ts errors into one readable line each: `destination.url: expected an https URL, got "htp://x"`.
 * Errors are values until here, at the edge, where they become text once. Identical lines are merged.
 */
export const formatErrors = (errors: t.Errors, root = ''): string[] => {
  const lines = errors.map((error) => {
    const path = pathOf(error.context, root);
    return `${path === '' ? '(top level)' : path}: ${problemOf(error)}`;
  });
  return [...new Set(lines)];
};
