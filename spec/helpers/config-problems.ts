import { ConfigError, parseConfig } from '../../pipeline/config/load.js';

/** What the config loader says is wrong with a config text (with `env` for its `${VAR}`s); none when it loads. */
export const problemsOf = (text: string, env: NodeJS.ProcessEnv = {}): readonly string[] => {
  try {
    parseConfig(text, env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
};
