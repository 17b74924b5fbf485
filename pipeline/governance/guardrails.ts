import type { Config } from '../config/codec.js';

/** Adobe's soft limits per dataflow: past them, activation still works but is slower to manage and to send. */
export const MAX_AUDIENCES = 250;
export const MAX_ATTRIBUTES = 50;

const CAMEL_CASE = /^[a-z][a-zA-Z0-9]*$/;

/** What `validate` says about a config's size and naming: warnings (limits) and hints (conventions). */
export const guardrails = (config: Config): { warnings: string[]; hints: string[] } => {
  const warnings: string[] = [];
  const hints: string[] = [];
  for (const [index, flow] of config.flows.entries()) {
    const at = config.singleFlowForm ? '' : `flows[${index}].`;
    if (flow.audiences.length > MAX_AUDIENCES)
      warnings.push(
        `${at}audiences: ${flow.audiences.length} audiences, over Adobe's soft limit of ${MAX_AUDIENCES} per dataflow`,
      );
    if (flow.attributes.length > MAX_ATTRIBUTES)
      warnings.push(
        `${at}attributes: ${flow.attributes.length} mapped attributes, over Adobe's soft limit of ${MAX_ATTRIBUTES} per dataflow`,
      );
    for (const [i, { target }] of flow.attributes.entries())
      if (!target.split('.').every((segment) => CAMEL_CASE.test(segment)))
        hints.push(
          `${at}attributes[${i}].target ${JSON.stringify(target)} is not camelCase, the recommended convention ` +
            '(a workflow reads fields by JSONPath: a stable, plain name is easiest to use there)',
        );
  }
  return { warnings, hints };
};
