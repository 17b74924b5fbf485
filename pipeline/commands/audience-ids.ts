import type { Config } from '../config/codec.js';

/** AEP names an audience (segment definition) by a UUID, as in `segmentMembership.ups.<uuid>`. */
const AEP_AUDIENCE_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** An audience id AEP would never send: most likely a name pasted where the id belongs. */
export const audienceIdWarnings = (config: Config): string[] =>
  config.flows.flatMap((flow) =>
    flow.audiences
      .filter(({ id }) => !AEP_AUDIENCE_ID.test(id))
      .map(
        ({ id }) =>
          `${config.singleFlowForm ? '' : `flow ${flow.name}: `}audience id ${JSON.stringify(id)} is not a UUID, ` +
          'the form AEP uses (segmentMembership.ups.<uuid>): updates will never name it',
      ),
  );
