import { messageOf } from '../operators/model/errors.js';
import { isLeft } from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { createRequire } from 'node:module';
import { isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PLUGIN_PLACES, type PluginPlace } from '../operators/built-ins.js';
import { integerIn, NonEmptyString, struct, withDefault, withMessage } from '../operators/model/codecs.js';
import { formatErrors } from '../operators/model/decode-errors.js';
import type { OperatorDefinition } from '../operators/model/define.js';
import { ConfigError } from './config/errors.js';

/** Where a plug-in may go: after one of `PLUGIN_PLACES` (why not after `dedupe` is said there). */
const PluginPlaceCodec = withMessage(
  t.keyof(Object.fromEntries(PLUGIN_PLACES.map((place) => [place, null])) as Record<PluginPlace, null>),
  `one of ${PLUGIN_PLACES.join(', ')} (not after dedupe: its fingerprint must be of exactly what emit sends)`,
);

/** `operators: [{ use, with, after }]`: a module exporting an operator definition, its options, its place. */
export const PluginConfig = struct(
  'operators[]',
  {
    /** A path (relative to the config file) or a package name. */
    use: NonEmptyString,
    after: withDefault(PluginPlaceCodec, 'projectAttributes'),
    /** An update the plug-in neither passes on nor settles within this time is failed `operator-dropped`. */
    timeoutSeconds: withDefault(integerIn(1, 86_400), 60),
  },
  { with: t.unknown },
);
export type PluginConfig = t.TypeOf<typeof PluginConfig>;

/** A plug-in loaded and its options decoded: ready to be placed in the chain. */
export interface LoadedPlugin {
  /** The module it came from, as the config names it. */
  readonly use: string;
  readonly after: PluginPlace;
  readonly definition: OperatorDefinition;
  readonly options: unknown;
  readonly timeoutMs: number;
}

const isDefinition = (value: unknown): value is OperatorDefinition => {
  const d = value as Partial<OperatorDefinition> | undefined;
  return (
    typeof d?.name === 'string' &&
    typeof d.summary === 'string' &&
    typeof d.create === 'function' &&
    typeof (d.options as t.Mixed | undefined)?.decode === 'function'
  );
};

const specifierOf = (use: string, baseDir: string): string =>
  use.startsWith('.') || isAbsolute(use)
    ? pathToFileURL(resolve(baseDir, use)).href
    : pathToFileURL(createRequire(join(baseDir, 'package.json')).resolve(use)).href;

/**
 * Loads the plug-in operators a config names. Each module must export an operator definition (as its
 * default export, or as `operator`), made like the built-ins with `defineOperator`. Its `with` is decoded
 * by the definition's own codec; every problem is reported at its path, as for the rest of the config.
 */
export const loadPlugins = async (
  plugins: readonly PluginConfig[],
  baseDir: string,
  source = 'config',
  /** Where the list is in the config, for error paths: `operators`, or `flows[1].operators`. */
  path = 'operators',
): Promise<LoadedPlugin[]> => {
  const problems: string[] = [];
  const loaded: LoadedPlugin[] = [];
  for (const [index, plugin] of plugins.entries()) {
    const at = `${path}[${index}]`;
    let module: Record<string, unknown>;
    try {
      module = (await import(specifierOf(plugin.use, baseDir))) as Record<string, unknown>;
    } catch (error) {
      problems.push(`${at}.use: cannot load ${JSON.stringify(plugin.use)}: ${messageOf(error).split('\n')[0]}`);
      continue;
    }
    const definition = module.default ?? module.operator;
    if (!isDefinition(definition)) {
      problems.push(
        `${at}.use: ${JSON.stringify(plugin.use)} exports no operator definition (a default export or ` +
          `\`operator\` with name, summary, options and create)`,
      );
      continue;
    }
    const options = definition.options.decode(plugin.with ?? {});
    if (isLeft(options)) {
      problems.push(...formatErrors(options.left, `${at}.with`));
      continue;
    }
    loaded.push({
      use: plugin.use,
      after: plugin.after,
      definition,
      options: options.right,
      timeoutMs: plugin.timeoutSeconds * 1000,
    });
  }
  if (problems.length > 0) throw new ConfigError(source, problems);
  return loaded;
};
