import { map } from 'rxjs';
import { getPath } from '../../operators/model/paths.js';
import type { ChainLink } from '../chain.js';

/** Updates looked at before mapped source paths never seen are reported: enough for any field in use to show. */
export const SURVEY_SIZE = 1000;

/**
 * Watches the first `size` profiles of a flow for its mapped attribute source paths, then reports
 * once, through `report`, those none of them had: most often a typo in the mapping
 * (`person.name.firstname`), which otherwise only shows as a field always missing in Qualtrics.
 */
export class UnseenPaths {
  readonly #unseen: Set<string>;
  #looked = 0;

  constructor(
    paths: readonly string[],
    private readonly report: (unseen: readonly string[], looked: number) => void,
    private readonly size = SURVEY_SIZE,
  ) {
    this.#unseen = new Set(paths);
  }

  see(profile: unknown): void {
    if (this.#looked >= this.size || this.#unseen.size === 0) return;
    for (const path of this.#unseen) if (getPath(profile, path) !== undefined) this.#unseen.delete(path);
    this.#looked += 1;
    if (this.#looked === this.size && this.#unseen.size > 0) this.report([...this.#unseen], this.#looked);
  }
}

/** The chain with a look at each decoded profile, right after `decode`, for `survey`. Changes nothing. */
export const surveyedChain = (chain: readonly ChainLink[], survey: UnseenPaths): ChainLink[] =>
  chain.flatMap((link) =>
    link.name === 'decode' && link.plugin === undefined
      ? [
          link,
          {
            name: 'unseenPaths',
            summary: 'note which mapped source paths the first updates never had',
            sees: (profile) => survey.see(profile),
            create: () =>
              map((envelope) => {
                if (envelope.profile) survey.see(envelope.profile);
                return envelope;
              }),
          },
        ]
      : [link],
  );
