import { isLeft } from 'fp-ts/lib/Either.js';
import type * as t from 'io-ts';
import { shapeOf } from '../../operators/model/codec-shape.js';

/** A JSON Schema (draft-07) node. */
export type JsonSchema = { readonly [keyword: string]: unknown };

/** io-ts' own types, as far as this converter reads them (each carries a `_tag`). */
interface Tagged {
  readonly _tag?: string;
  readonly name: string;
  readonly type?: t.Mixed;
  readonly types?: readonly t.Mixed[];
  readonly props?: t.Props;
  readonly value?: unknown;
  readonly keys?: Record<string, unknown>;
  readonly domain?: t.Mixed;
  readonly codomain?: t.Mixed;
}

/** A key may be left out when its codec accepts nothing (a default, `t.unknown`). */
const mayBeLeftOut = (codec: t.Mixed): boolean => !isLeft(codec.validate(undefined, []));

/** A default worth showing in an editor: a plain value, not a whole section's decoded defaults. */
const shownDefault = (value: unknown): boolean =>
  ['string', 'number', 'boolean'].includes(typeof value) || (Array.isArray(value) && value.length === 0);

/** A secret's key: its value may instead be read from the file named by this key (secret-files.ts). */
export const fileKeyOf = (key: string): string => `${key}File`;

/** Whether a schema node is a secret's (`SecretString` records `writeOnly`). */
export const isSecretSchema = (schema: JsonSchema | undefined): boolean => schema?.writeOnly === true;

/**
 * An object's schema. A secret key (`apiToken`) comes with its file key (`apiTokenFile`): exactly one of
 * the two when the secret is required, at most one when it may be left out.
 */
const objectOf = (props: t.Props, required: readonly string[], closed: boolean, seen: Set<t.Mixed>): JsonSchema => {
  const properties: Record<string, JsonSchema> = {};
  const stillRequired = [...required];
  const rules: JsonSchema[] = [];
  for (const [key, codec] of Object.entries(props)) {
    const schema = convert(codec, seen);
    properties[key] = schema;
    if (!isSecretSchema(schema)) continue;
    const fileKey = fileKeyOf(key);
    properties[fileKey] = {
      type: 'string',
      minLength: 1,
      description: `the path of a file holding ${key} (relative to the config file), instead of ${key}`,
    };
    if (stillRequired.includes(key)) {
      stillRequired.splice(stillRequired.indexOf(key), 1);
      rules.push({ oneOf: [{ required: [key] }, { required: [fileKey] }] });
    } else rules.push({ not: { required: [key, fileKey] } });
  }
  return {
    type: 'object',
    properties,
    ...(stillRequired.length > 0 ? { required: stillRequired } : {}),
    ...(rules.length > 0 ? { allOf: rules } : {}),
    additionalProperties: !closed,
  };
};

/** An intersection of object schemas is one object with every member's keys (closed if any member is). */
const merged = (members: readonly JsonSchema[]): JsonSchema => {
  if (!members.every((m) => m.type === 'object' && m.properties !== undefined)) return { allOf: members };
  return {
    type: 'object',
    properties: Object.assign({}, ...members.map((m) => m.properties)),
    required: members.flatMap((m) => (m.required as string[] | undefined) ?? []),
    ...(members.some((m) => m.allOf !== undefined)
      ? { allOf: members.flatMap((m) => (m.allOf as JsonSchema[] | undefined) ?? []) }
      : {}),
    additionalProperties: members.every((m) => m.additionalProperties !== false),
  };
};

const convert = (codec: t.Mixed, seen: Set<t.Mixed>): JsonSchema => {
  if (seen.has(codec)) return {}; // recursive: anything at the inner level
  const inner = new Set(seen).add(codec);
  const go = (c: t.Mixed): JsonSchema => convert(c, inner);
  const shape = shapeOf(codec);
  if (shape !== undefined) {
    switch (shape.kind) {
      case 'struct': {
        const required = Object.entries(shape.required)
          .filter(([, c]) => !mayBeLeftOut(c))
          .map(([key]) => key);
        return objectOf({ ...shape.required, ...shape.optional }, required, !shape.open, inner);
      }
      case 'default':
        return { ...go(shape.of), ...(shownDefault(shape.fallback) ? { default: shape.fallback } : {}) };
      case 'described':
        return { ...go(shape.of), description: shape.description };
      case 'integer':
        return { type: 'integer', minimum: shape.min, maximum: shape.max };
      case 'number':
        return { type: 'number', minimum: shape.min, maximum: shape.max };
      case 'string': {
        const { kind: _, ...rest } = shape;
        return { type: 'string', ...rest };
      }
      case 'array':
        return { type: 'array', items: go(shape.of), ...(shape.minItems > 0 ? { minItems: shape.minItems } : {}) };
      case 'oneOf': {
        // Exactly one branch key; a secret branch (`bearer`) may be given as its file key (`bearerFile`).
        const { allOf: _, ...object } = objectOf(shape.branches, [], true, inner);
        return {
          ...object,
          oneOf: Object.keys(object.properties as object).map((key) => ({ required: [key] })),
        };
      }
      case 'anyOf':
        return { anyOf: shape.members.map(go) };
      case 'like':
        return go(shape.of);
    }
  }
  const tagged = codec as unknown as Tagged;
  switch (tagged._tag) {
    case 'StringType':
      return { type: 'string' };
    case 'NumberType':
      return { type: 'number' };
    case 'BooleanType':
      return { type: 'boolean' };
    case 'NullType':
      return { type: 'null' };
    case 'UnknownRecordType':
    case 'AnyDictionaryType':
      return { type: 'object' };
    case 'UnknownArrayType':
    case 'AnyArrayType':
      return { type: 'array' };
    case 'LiteralType':
      return { const: tagged.value };
    case 'KeyofType':
      return { enum: Object.keys(tagged.keys ?? {}) };
    case 'ArrayType':
    case 'ReadonlyArrayType':
      return { type: 'array', items: go(tagged.type!) };
    case 'TupleType':
      return { type: 'array', items: tagged.types!.map(go), minItems: tagged.types!.length };
    case 'InterfaceType':
    case 'PartialType': {
      const props = tagged.props ?? {};
      const required =
        tagged._tag === 'PartialType'
          ? []
          : Object.entries(props)
              .filter(([, c]) => !mayBeLeftOut(c))
              .map(([key]) => key);
      return objectOf(props, required, false, inner);
    }
    case 'ExactType':
    case 'StrictType':
    case 'ReadonlyType': {
      const of = go(tagged.type!);
      return tagged._tag === 'ReadonlyType' || of.type !== 'object' ? of : { ...of, additionalProperties: false };
    }
    case 'IntersectionType':
      return merged(tagged.types!.map(go));
    case 'UnionType':
      return { anyOf: tagged.types!.map(go) };
    case 'RefinementType':
      return go(tagged.type!);
    case 'DictionaryType':
    case 'RecordType': {
      const keys = go(tagged.domain!);
      return {
        type: 'object',
        additionalProperties: go(tagged.codomain!),
        ...(keys.enum !== undefined ? { propertyNames: keys } : {}),
      };
    }
    default:
      // A custom type that recorded no shape, t.unknown, a recursive type: any value, described by name.
      return tagged._tag === 'UnknownType' || tagged._tag === 'AnyType' ? {} : { description: codec.name };
  }
};

/**
 * The JSON Schema of what `codec` accepts, generated from the codec itself (io-ts' tags, and the shapes
 * the custom combinators record), so the schema an editor checks against never drifts from the decoder.
 * What a schema cannot state (cross-field checks like "https unless allowAnyHost") stays the decoder's.
 */
export const jsonSchemaOf = (codec: t.Mixed, title?: string): JsonSchema => ({
  $schema: 'http://json-schema.org/draft-07/schema#',
  ...(title === undefined ? {} : { title }),
  ...convert(codec, new Set()),
});
