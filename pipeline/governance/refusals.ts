import type { Config, FlowConfig } from '../config/codec.js';
import { describeViolation, violationsOf } from './evaluate.js';

/** A flow that breaks a data-usage policy, and each violation as a line naming where it is in the config. */
export interface Refusal {
  readonly flow: FlowConfig;
  readonly problems: readonly string[];
}

/** Every flow of a config whose mapping breaks a policy (disabled ones too: found before they are turned on). */
export const governanceRefusals = (config: Config): Refusal[] =>
  config.flows.flatMap((flow, index) => {
    const at = config.singleFlowForm ? '' : `flows[${index}].`;
    const problems = violationsOf(flow).map((violation) => `${at}${describeViolation(violation)}`);
    return problems.length === 0 ? [] : [{ flow, problems }];
  });

/**
 * The one message for a refused flow, whichever command would have sent through it (`run`, `replay`, `dlq redrive`).
 */
export const describeRefusal = ({ flow, problems }: Refusal): string =>
  `flow ${flow.name} not started: it breaks a data-usage policy: ${problems.join('; ')}`;

/**
 * Throws for a flow that breaks a data-usage policy: called wherever a flow is wired to send (see
 * `wireFlowCore`), so no command sends through a refused flow.
 */
export const refuseUngoverned = (config: Config, flow: FlowConfig): void => {
  const refusal = governanceRefusals(config).find((candidate) => candidate.flow.name === flow.name);
  if (refusal) throw new Error(describeRefusal(refusal));
};

/**
 * The config `run` starts: a flow that breaks a policy is turned off (Adobe blocks such an activation)
 * and every other flow runs. `refused` says which, for the log.
 */
export const withoutRefusedFlows = (config: Config): { config: Config; refused: Refusal[] } => {
  const refused = governanceRefusals(config);
  if (refused.length === 0) return { config, refused };
  const off = new Set(refused.map(({ flow }) => flow));
  return {
    config: { ...config, flows: config.flows.map((flow) => (off.has(flow) ? { ...flow, enabled: false } : flow)) },
    refused,
  };
};
