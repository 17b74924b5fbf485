import { dirname, resolve } from 'node:path';
import { describeChain, loadChain } from '../chain.js';
import { type Config, type FlowConfig, plainTextOnNetwork } from '../config/codec.js';
import { enabledFlows } from '../config/flow-choice.js';
import { ConfigError } from '../config/errors.js';
import { configOf, type ConfigInput, originLines, readConfigInput } from '../config/load.js';
import { pluginProblems } from './plugin-problems.js';
import { audienceIdWarnings } from './audience-ids.js';
import { governanceRefusals } from '../governance/refusals.js';
import { guardrails } from '../governance/guardrails.js';
import { configFileWarnings } from '../config/secret-files.js';

/**
 * What `validate` warns about without failing: an HTTP intake on the network without TLS, audiences
 * that only disabled flows map (nothing will send them), and two enabled flows that would send one
 * audience to one URL (each person's survey twice).
 */
export const flowWarnings = (config: Config): string[] => {
  const warnings: string[] = [];
  const { http } = config.source;
  if (http && plainTextOnNetwork(http))
    warnings.push(
      `source.http listens on ${http.host} without tls: tokens and profiles travel in clear unless a proxy in front adds TLS`,
    );
  const enabled = enabledFlows(config);
  const sentBy = new Map<string, string[]>();
  for (const flow of enabled)
    for (const { id } of flow.audiences) {
      // Compared as parsed URLs: `https://A.qualtrics.com:443/e/1` is the same workflow.
      const key = `${id}\n${new URL(flow.destination.url).href}`;
      sentBy.set(key, [...(sentBy.get(key) ?? []), flow.name]);
    }
  for (const [key, flows] of sentBy) {
    if (flows.length < 2) continue;
    const [audience, url] = key.split('\n');
    warnings.push(`flows ${flows.join(' and ')} both send audience ${JSON.stringify(audience)} to ${url}`);
  }
  const mapped = new Set(enabled.flatMap((flow) => flow.audiences.map(({ id }) => id)));
  for (const flow of config.flows.filter((candidate) => !candidate.enabled))
    for (const { id } of flow.audiences)
      if (!mapped.has(id))
        warnings.push(`audience ${JSON.stringify(id)} is mapped only in disabled flow ${flow.name}: no flow sends it`);
  return warnings;
};

const summaryOf = (flow: FlowConfig): string =>
  `${flow.audiences.length} audience(s), ${flow.identities.length} identity mapping(s), ` +
  `${flow.attributes.length} attribute(s)`;

/** `qualtrics-automations validate`: the config is good, what each flow will run, and what looks wrong. */
export const validateReport = async (config: Config, file: string): Promise<string> => {
  // A mapping that breaks a data-usage policy is a config that cannot run (as Adobe blocks the activation).
  const refusals = governanceRefusals(config);
  if (refusals.length > 0)
    throw new ConfigError(
      file,
      refusals.flatMap(({ problems }) => problems),
    );
  const baseDir = dirname(resolve(file));
  const { warnings: limits, hints } = guardrails(config);
  const warnings = [
    ...flowWarnings(config),
    ...audienceIdWarnings(config),
    ...limits,
    ...(await configFileWarnings(file)),
  ];
  const advice = [...warnings.map((warning) => `warning: ${warning}`), ...hints.map((hint) => `hint: ${hint}`)];
  if (config.singleFlowForm) {
    const [flow] = config.flows;
    const chain = await loadChain(flow!, baseDir, file);
    return (
      `${file}: OK (${config.name}: ${summaryOf(flow!)})\n` +
      `operators, in the order they run:\n${describeChain(chain).join('\n')}\n` +
      advice.map((line) => `${line}\n`).join('')
    );
  }
  const lines = [`${file}: OK (${config.name}: ${config.flows.length} flows)`];
  for (const [index, flow] of config.flows.entries()) {
    // Loaded for every flow, disabled ones too: a broken plug-in is found before the flow is turned on.
    const chain = await loadChain(flow, baseDir, file, `flows[${index}].operators`);
    const state = flow.enabled ? '' : ' (disabled)';
    lines.push(
      `flow ${flow.name}${state}: ${summaryOf(flow)}, to ${new URL(flow.destination.url).host}`,
      ...describeChain(chain).map((line) => `  ${line}`),
    );
  }
  lines.push(...advice);
  return `${lines.join('\n')}\n`;
};

/**
 * `validate`: reads the config (a file, `QA_CONFIG`, `QA_<PATH>` variables), and either reports every
 * problem in one pass (the codec's, cross-field checks and plug-ins' together) or what will run and where
 * each value came from; either way with the warnings about the environment (a `QA_` variable naming no key).
 */
export const validateCommand = async (file: string | undefined, env: NodeJS.ProcessEnv): Promise<string> => {
  const input: ConfigInput = await readConfigInput(file, env);
  let config: Config;
  try {
    config = configOf(input, env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    throw new ConfigError(error.source, [...error.problems, ...(await pluginProblems(input))], error.warnings);
  }
  const report = await validateReport(config, input.source);
  const warnings = input.warnings.map((warning) => `warning: ${warning}\n`).join('');
  return `${report}${warnings}where values came from:\n${originLines(input)
    .map((line) => `  ${line}`)
    .join('\n')}\n`;
};
