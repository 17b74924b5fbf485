import { expect } from 'chai';
import type { Config } from '../../pipeline/config/codec.js';
import { parseConfig } from '../../pipeline/config/load.js';
import { redisPrefixOf, slug } from '../../pipeline/wire.js';

const configFor = (url: string, extra = '') =>
  parseConfig(`
name: Wire
source: { websocket: { url: "ws://127.0.0.1:1" } }
destination: { url: "${url}", username: u, apiToken: t }
audiences: [{ id: a1 }]
identities: [{ source: Email, target: email }]
${extra}
`);

/** The one flow's prefix of a one-flow config. */
const prefixOf = (config: Config): string => redisPrefixOf(config, config.flows[0]!);

describe('wiring', () => {
  it('derives one Redis prefix, with a hash tag, per destination URL', () => {
    const a = prefixOf(configFor('https://iad1.qualtrics.com/e/1'));
    expect(a).to.match(/^qa:\{[0-9a-f]{16}\}$/);
    expect(prefixOf(configFor('https://iad1.qualtrics.com/e/1'))).to.equal(a);
    expect(prefixOf(configFor('https://iad1.qualtrics.com/e/2'))).not.to.equal(a);
    expect(
      prefixOf(configFor('https://iad1.qualtrics.com/e/1', 'redis: { url: "redis://x", prefix: "team:{survey}" }')),
    ).to.equal('team:{survey}');
  });

  it('makes file-safe names', () => {
    expect(slug('Post-purchase survey (EU)')).to.equal('post-purchase-survey-eu');
    expect(slug('***')).to.equal('pipeline');
  });
});
