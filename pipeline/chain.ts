import type * as t from 'io-ts';
import type { Observable, OperatorFunction } from 'rxjs';
import { BUILT_INS, type BuiltIn, type BuiltInName } from '../operators/built-ins.js';
import { decodeOrThrow, pick } from '../operators/model/codecs.js';
import type { OperatorContext } from '../operators/model/define.js';
import type { Envelope } from '../operators/model/envelope.js';
import type { Outcome } from '../operators/model/outcome.js';
import type { Profile } from '../operators/model/profile.js';
import { exclusionOf } from '../operators/qualify.js';
import type { FlowConfig } from './config/codec.js';
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
const SECTIONS: { readonly [N in BuiltInName]: (flow: FlowConfig) => OptionsOf<N> | undefined } = {
  decode: () => ({}),
  qualify: (flow) => pick(definitionOf('qualify').options, flow),
  // Only in the chain of a flow with a `consent` section.
  consent: (flow) => flow.consent,
  selectIdentity: (flow) => pick(definitionOf('selectIdentity').options, flow),
  projectAttributes: (flow) => pick(definitionOf('projectAttributes').options, flow),
  keepOrder: () => decodeOrThrow(definitionOf('keepOrder').options, {}),
  dedupe: (flow) => flow.dedupe,
  emit: (flow) => pick(definitionOf('emit').options, flow.destination),
};

/** One operator of the chain a flow runs: what `validate` lists, and how to make it for a context. */
export interface ChainLink {
  readonly name: string;
  readonly summary: string;
  /** For a plug-in: the module it was loaded from (`operators[].use`). */
  readonly plugin?: string;
  create(context: OperatorContext): OperatorFunction<Envelope, Envelope>;
  /** For `qualify`: what it would settle a profile as, without an envelope (see `startPipeline`'s fast path). */
  readonly excludes?: (profile: Profile) => Outcome | undefined;
  /**
   * For a link that only looks at each decoded profile and passes every envelope on unchanged (the
   * unseen-paths survey): that look, for the fast path to take in its place.
   */
  readonly sees?: (profile: Profile) => void;
}

const builtInLink = <N extends BuiltInName>(name: N, flow: FlowConfig): ChainLink[] => {
  const definition = definitionOf(name) as unknown as BuiltIn & { name: N };
  const options = SECTIONS[name](flow);
  if (options === undefined) return [];
  return [
    {
      name,
      summary: definition.summary,
      ...(name === 'qualify' ? { excludes: exclusionOf(options as OptionsOf<'qualify'>) } : {}),
      create: (context) =>
        (definition.create as (o: OptionsOf<N>, c: OperatorContext) => OperatorFunction<Envelope, Envelope>)(
          options,
          context,
        ),
    },
  ];
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
 * The operator chain a flow runs, in DESIGN.md's order, every operator made from its definition
 * (built-ins and plug-ins alike), each plug-in right after the built-in it names (plug-ins naming the
 * same one keep their config order).
 */
export const chainOf = (flow: FlowConfig, plugins: readonly LoadedPlugin[] = []): ChainLink[] =>
  BUILT_INS.flatMap(({ name }) => [
    ...builtInLink(name, flow),
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

/**
 * When the chain begins with the built-in `decode` then `qualify` (between them only links that look at
 * profiles, `sees`; no plug-in): what `qualify` would settle a decoded profile as, the looks taken for a
 * profile it settles. Undefined for any other chain.
 */
export const exclusionAtIntake = (
  chain: readonly ChainLink[],
): ((profile: Profile) => Outcome | undefined) | undefined => {
  const [first, ...rest] = chain;
  if (first?.name !== 'decode' || first.plugin !== undefined) return undefined;
  const at = rest.findIndex((link) => link.sees === undefined);
  const qualify = rest[at];
  if (qualify?.name !== 'qualify' || qualify.plugin !== undefined || !qualify.excludes) return undefined;
  const { excludes } = qualify;
  const looks = rest.slice(0, at).flatMap((link) => (link.sees ? [link.sees] : []));
  if (looks.length === 0) return excludes;
  return (profile) => {
    const outcome = excludes(profile);
    if (outcome) for (const see of looks) see(profile);
    return outcome;
  };
};

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

/**
 * The chain a flow of a config file runs: its plug-ins loaded (relative to `baseDir`, the config file's
 * folder) and placed. `at` is where the flow's plug-ins are in the file, for error messages
 * (`operators`, or `flows[1].operators`).
 */
export const loadChain = async (
  flow: FlowConfig,
  baseDir: string,
  source = 'config',
  at = 'operators',
): Promise<ChainLink[]> => chainOf(flow, await loadPlugins(flow.operators, baseDir, source, at));
