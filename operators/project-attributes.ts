import * as t from 'io-ts';
import type { OperatorFunction } from 'rxjs';
import { matching, refine, struct, withDefault, type Problem } from './model/codecs.js';
import { defineOperator } from './model/define.js';
import { perEnvelope } from './model/per-envelope.js';
import type { Envelope } from './model/envelope.js';
import type { Json } from './model/json.js';
import { getSegments, overlaps, segmentsOf, setSegments } from './model/paths.js';
import { RESERVED_KEYS } from './model/payload.js';

export interface DottedPathBrand {
  readonly DottedPath: unique symbol;
}
/** `person.name.firstName`: names separated by dots, no empty segment. */
export const DottedPath = matching<'DottedPath', DottedPathBrand>(
  'DottedPath',
  /^[^.\s]+(\.[^.\s]+)*$/,
  'a dotted path like person.name.firstName',
);
export type DottedPath = t.TypeOf<typeof DottedPath>;

/** One mapped attribute: where to read it in the profile, where to put it in the payload. */
export const AttributeMapping = struct('AttributeMapping', { source: DottedPath, target: DottedPath });
export type AttributeMapping = t.TypeOf<typeof AttributeMapping>;

const targetProblems = (mappings: readonly AttributeMapping[]): Problem[] =>
  mappings.flatMap(({ target }, index) => {
    const head = target.split('.')[0]!;
    if ((RESERVED_KEYS as readonly string[]).includes(head))
      return [
        { path: [index, 'target'], message: `"${head}" is filled by the pipeline itself; choose another target` },
      ];
    // Same path, or one inside the other: both cannot be written.
    const clash = mappings.findIndex((other, j) => j < index && overlaps(other.target, target));
    if (clash >= 0)
      return [
        {
          path: [index, 'target'],
          message: `"${target}" overlaps attributes[${clash}].target "${mappings[clash]!.target}"`,
        },
      ];
    return [];
  });

/** Attribute mappings whose targets neither repeat nor nest inside each other, nor use a reserved key. */
export const AttributeMappings = refine(t.array(AttributeMapping, 'list of {source, target}'), targetProblems);

export const ProjectAttributesOptions = struct('ProjectAttributesOptions', {
  /** Profile attributes to send, each at its target key. Default: none (only memberships and the identity). */
  attributes: withDefault(AttributeMappings, []),
});
export type ProjectAttributesOptions = t.TypeOf<typeof ProjectAttributesOptions>;

/**
 * Copies each mapped attribute from the profile into the payload at its target path (dotted targets
 * nest: `person.name.firstName` becomes `{"person": {"name": {"firstName": ...}}}`). A source the
 * profile does not have is left out; `null` is a value and is sent.
 *
 * @example
 * profiles$.pipe(projectAttributes({ attributes: [{ source: 'person.name.firstName', target: 'firstName' }] }))
 */
export const projectAttributes = (options: ProjectAttributesOptions): OperatorFunction<Envelope, Envelope> => {
  // Paths split once, not on every update.
  const mappings = options.attributes.map(({ source, target }) => ({
    source: segmentsOf(source),
    target: segmentsOf(target),
  }));
  return perEnvelope('projectAttributes', (envelope) => {
    let payload = envelope.payload;
    for (const { source, target } of mappings) {
      const value = getSegments(envelope.profile, source);
      if (value !== undefined) payload = setSegments(payload, target, value as Json);
    }
    return payload === envelope.payload ? envelope : { ...envelope, payload };
  });
};

export const projectAttributesOperator = defineOperator({
  name: 'projectAttributes',
  summary: 'copy mapped profile attributes to their target paths in the payload',
  options: ProjectAttributesOptions,
  create: (options) => projectAttributes(options),
});
