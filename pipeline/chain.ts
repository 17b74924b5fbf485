import type * as t from 'io-ts';
import type { Observable, OperatorFunction } from 'rxjs';
import { BUILT_INS, type BuiltIn, type BuiltInName } from '../operators/built-ins.js';
import { decodeOrThrow, pick } from '../operators/model/codecs.js';
import type { OperatorContext } from '../operators/model/define.js';
import type { Envelope } from '../operators/model/envelope.js';
import type { Config } from './config/codec.js';
import { guardPlugin } from '../operators/model/plugin-guard.js';
import { loadPlugins, type LoadedPlugin } from './plugins.js';

type OptionsOf<N extends BuiltInName> = t.TypeOf<Extract<BuiltIn, { name: N }>['options']>;
type Definition<N extends BuiltInName> = Extract<BuiltIn, { name: N }>;
const definitionOf = <N extends BuiltInName>(name: N): Definition<N> =>
  BUILT_INS.find((definition) => definition.name === name) as Definition<N>;

/**
 * Where each built-in's options sit in a decoded config. The config codec took each section over from
 * the operator's own options codec (`...QualifyOptions.required`, `dedupe: DedupeOptions`), so the
 * section is already decoded, once, by that codec: here it is only picked out. `keepOrder` has no
 * section (nothing in it is for a user to tune); its defaults are its codec's.
 */
const SECTIONS: { readonly [N in BuiltInName]: (config: Config) => OptionsOf<N> } = {
  decode: () => ({}),
  qualify: (config) => pick(definitionOf('qualify').options, config),
  selectIdentity: (config) => pick(definitionOf('selectIdentity').options, config),
  projectAttributes: (config) => pick(definitionOf('projectAttributes').options, config),
  keepOrder: () => decodeOrThrow(definitionOf('keepOrder').options, {}),
  dedupe: (config) => config.dedupe,
  emit: (config) => pick(definitionOf('emit').options, config.destination),
};

/** One operator of the chain a config runs: what `validate` lists, and how to make it for a context. */
export interface ChainLink {
  readonly name: string;
  readonly summary: string;
  /** For a plug-in: the module it was loaded from (`operators[].use`). */
  readonly plugin?: string;
  create(context: OperatorContext): OperatorFunction<Envelope, Envelope>;
}

const builtInLink = <N extends BuiltInName>(name: N, config: Config): ChainLink => {
  const definition = definitionOf(name) as unknown as BuiltIn & { name: N };
  const options = SECTIONS[name](config);
  return {
    name,
    summary: definition.summary,
    create: (context) =>
      (definition.create as (o: OptionsOf<N>, c: OperatorContext) => OperatorFunction<Envelope, Envelope>)(
        options,
        context,
      ),
  };
};

const pluginLink = ({ definition, options, use, timeoutMs }: LoadedPlugin): ChainLink => ({
  name: definition.name,
  summary: definition.summary,
  plugin: use,
  // Every plug-in runs through the pipeline's guard: whatever it does, it costs only the envelope it did it to.
  create: (context) =>
    guardPlugin({ name: definition.name, create: () => definition.create(options, context), timeoutMs, context }),
});

/**
 * The operator chain a config runs, in DESIGN.md's order, every operator made from its definition
 * (built-ins and plug-ins alike), each plug-in right after the built-in it names (plug-ins naming the
 * same one keep their config order).
 */
export const chainOf = (config: Config, plugins: readonly LoadedPlugin[] = []): ChainLink[] =>
  BUILT_INS.flatMap(({ name }) => [
    builtInLink(name, config),
    ...plugins.filter((plugin) => plugin.after === name).map(pluginLink),
  ]);

/** The part of a chain that maps (everything before `keepOrder`): what `test` and `send-test` run. */
export const mappingPart = (chain: readonly ChainLink[]): ChainLink[] =>
  chain.slice(
    0,
    chain.findIndex((link) => link.name === 'keepOrder' && link.plugin === undefined),
  );

/** The part of a chain that sends (`dedupe` and `emit`): what a redrive of dead letters runs. */
export const sendingPart = (chain: readonly ChainLink[]): ChainLink[] =>
  chain.filter((link) => link.plugin === undefined && (link.name === 'dedupe' || link.name === 'emit'));

/** Runs `envelopes` through the chain's operators, made for `context`, first to last. */
export const compose = (
  envelopes: Observable<Envelope>,
  chain: readonly ChainLink[],
  context: OperatorContext,
): Observable<Envelope> => chain.reduce((stream, link) => link.create(context)(stream), envelopes);

/** The chain as `validate` prints it: one line per operator, in order. */
export const describeChain = (chain: readonly ChainLink[]): string[] => {
  const width = Math.max(...chain.map((link) => link.name.length));
  return chain.map(
    (link, index) =>
      `${String(index + 1).padStart(2)}. ${link.name.padEnd(width)}  ` +
      `${link.plugin === undefined ? '' : `(plug-in ${link.plugin}) `}${link.summary}`,
  );
};

/** The chain a config file runs: its plug-ins loaded (relative to `baseDir`, the config file's folder) and placed. */
export const loadChain = async (config: Config, baseDir: string, source = 'config'): Promise<ChainLink[]> =>
  chainOf(config, await loadPlugins(config.operators, baseDir, source));
