import type { Config, FlowConfig } from './codec.js';
import { ConfigError } from './errors.js';

/**
 * The flow a command acts on (`history`, `dlq`, `send-test`): the one named by `--flow`, or the only
 * one. With several flows and none named, or a name that is not there, the error lists the flows.
 */
export const chooseFlow = (
  config: Config,
  name: string | undefined,
  source = 'config',
  /** How to name one: `--flow` on the command line, `flow:` in a test file. */
  how = '--flow',
): FlowConfig => {
  const names = config.flows.map((flow) => flow.name).join(', ');
  if (name === undefined) {
    if (config.flows.length === 1) return config.flows[0]!;
    throw new ConfigError(source, [`this config has ${config.flows.length} flows (${names}): name one with ${how}`]);
  }
  const flow = config.flows.find((candidate) => candidate.name === name);
  if (!flow) throw new ConfigError(source, [`${how} ${name}: no such flow (the flows are ${names})`]);
  return flow;
};

/** The flows a process runs: the enabled ones. */
export const enabledFlows = (config: Config): FlowConfig[] => config.flows.filter((flow) => flow.enabled);

/** The flows a command runs through (`replay`): those named by `--flow`, or every enabled one. */
export const chooseFlows = (config: Config, names: readonly string[] | undefined, source = 'config'): FlowConfig[] =>
  names === undefined || names.length === 0
    ? enabledFlows(config)
    : names.map((name) => chooseFlow(config, name, source));
