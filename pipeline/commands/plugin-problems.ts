import { isLeft } from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { ConfigError } from '../config/errors.js';
import type { ConfigInput } from '../config/load.js';
import { loadPlugins, PluginConfig } from '../plugins.js';

/** The `operators` lists of a config not yet decoded, at the top (one flow) and in each flow, with their paths. */
const operatorLists = (value: unknown): Array<{ list: unknown; path: string }> => {
  if (typeof value !== 'object' || value === null) return [];
  const { operators, flows } = value as { operators?: unknown; flows?: unknown };
  const lists: Array<{ list: unknown; path: string }> =
    operators === undefined ? [] : [{ list: operators, path: 'operators' }];
  if (Array.isArray(flows))
    for (const [index, flow] of flows.entries())
      if (typeof flow === 'object' && flow !== null && 'operators' in flow)
        lists.push({ list: (flow as { operators: unknown }).operators, path: `flows[${index}].operators` });
  return lists;
};

/**
 * The plug-ins' problems of a config that did not decode, so `validate` reports them with the rest in one
 * pass. A list that itself does not decode is already among the config's problems.
 */
export const pluginProblems = async (input: ConfigInput): Promise<string[]> => {
  const problems: string[] = [];
  for (const { list, path } of operatorLists(input.value)) {
    const decoded = t.array(PluginConfig).decode(list);
    if (isLeft(decoded)) continue;
    try {
      await loadPlugins(decoded.right, input.baseDir, input.source, path);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      problems.push(...error.problems);
    }
  }
  return problems;
};
