/** A path into a config: keys, and indexes of list entries. */
export type ConfigPath = readonly (string | number)[];

/** `flows[1].destination.url`: a path as messages write it. */
export const joinPath = (path: ConfigPath): string =>
  path.reduce<string>(
    (text, key) => (typeof key === 'number' ? `${text}[${key}]` : text === '' ? key : `${text}.${key}`),
    '',
  );

/**
 * A config that cannot be used, with every problem found, one line each, each naming its path; and the
 * warnings found on the way (a `QA_` variable naming no key may explain a missing value), after them.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';

  constructor(
    readonly source: string,
    readonly problems: readonly string[],
    readonly warnings: readonly string[] = [],
  ) {
    super(
      `${source}: ${problems.length} ` +
        `problem${problems.length === 1 ? '' : 's'}:\n${problems.map((p) => `  - ${p}`).join('\n')}` +
        warnings.map((warning) => `\nwarning: ${warning}`).join(''),
    );
  }
}
