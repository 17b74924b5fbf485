import { expect } from 'chai';
import { inspect } from 'node:util';
import { readFileSync } from 'node:fs';
import { ConfigError, loadConfig, parseConfig } from '../../../pipeline/config/load.js';
import { Secret } from '../../../pipeline/config/secret.js';
import { problemsOf as configProblems } from '../../helpers/config-problems.js';

const minimal = `
name: Test
source: { websocket: { url: "ws://127.0.0.1:1/feed" } }
destination:
  url: https://fra1.qualtrics.com/inbound-event/v1/events/json/x
  username: me@example.com
  apiToken: \${TOKEN}
audiences: [{ id: a1 }]
identities: [{ source: Email, target: email }]
`;

/** The shared helper, with the \${TOKEN} every config here names. */
const problemsOf = (text: string, env: NodeJS.ProcessEnv = { TOKEN: 't0ken' }) => configProblems(text, env);

describe('config', () => {
  it('decodes a minimal config with every default filled in', () => {
    const config = parseConfig(minimal, { TOKEN: 't0ken' });
    expect(config.flows[0]!.destination.auth).to.equal('basic');
    expect(config.flows[0]!.destination.allowAnyHost).to.equal(false);
    expect(config.flows[0]!.destination.rateLimit).to.deep.equal({ requests: 3000, perSeconds: 60, share: 1 });
    expect(config.flows[0]!.destination.concurrency).to.equal(8);
    expect(config.flows[0]!.destination.timeoutMs).to.equal(10_000);
    expect(config.flows[0]!.destination.retry).to.deep.equal({
      maxAttempts: 10,
      baseMs: 500,
      maxMs: 30_000,
      downAfter: 5,
    });
    expect(config.flows[0]!.destination.maxPayloadBytes).to.equal(100_000);
    expect(config.flows[0]!.dedupe).to.deep.equal({ ttlSeconds: 7 * 86_400, leaseSeconds: 60, pollMs: 250 });
    expect(config.flows[0]!.statuses).to.deep.equal(['realized', 'exited']);
    expect(config.flows[0]!.attributes).to.deep.equal([]);
    expect(config.redis).to.equal(undefined);
    expect(config.flows[0]!.destination.apiToken.reveal()).to.equal('t0ken');
  });

  it('accepts the complete example config', async () => {
    const config = await loadConfig('examples/config.yaml', { QUALTRICS_API_TOKEN: 'x', FEED_TOKEN: 'y' });
    expect(config.name).to.equal('Post-purchase survey');
    expect(
      (config.source.websocket && 'headers' in config.source.websocket
        ? config.source.websocket.headers
        : undefined
      )?.Authorization?.reveal(),
    ).to.equal('Bearer y');
    expect(config.flows[0]!.attributes).to.have.length(4);
  });

  it('keeps secrets out of anything printed', () => {
    const config = parseConfig(minimal, { TOKEN: 'SUPER-SECRET-VALUE' });
    for (const printed of [
      JSON.stringify(config),
      inspect(config, { depth: 10 }),
      `${config.flows[0]!.destination.apiToken}`,
      String(new Secret('x')),
    ])
      expect(printed).not.to.contain('SUPER-SECRET-VALUE');
  });

  it('interpolates ${VAR} and ${VAR:-fallback} in strings only, and $${ as a literal', () => {
    const config = parseConfig(
      minimal.replace('name: Test', () => 'name: "${NAME:-fallback} $${NOT_A_VAR}"'),
      { TOKEN: 't' },
    );
    expect(config.name).to.equal('fallback ${NOT_A_VAR}');
    const injected = parseConfig(minimal, { TOKEN: 'a: b\nc: [' });
    expect(injected.flows[0]!.destination.apiToken.reveal()).to.equal('a: b\nc: [');
  });

  it('names an unset variable at the path that uses it', () => {
    expect(problemsOf(minimal, {})).to.deep.equal(['destination.apiToken: environment variable TOKEN is not set']);
  });

  it('refuses a URL that is not https on qualtrics.com, unless allowAnyHost', () => {
    expect(
      problemsOf(minimal.replace('https://fra1.qualtrics.com/inbound-event/v1/events/json/x', 'htp://x')),
    ).to.deep.equal(['destination.url: expected an http(s) URL, got "htp://x"']);
    expect(problemsOf(minimal.replace('https://fra1.qualtrics.com', 'http://fra1.qualtrics.com'))).to.deep.equal([
      'destination.url: expected an https URL, got "http://fra1.qualtrics.com/inbound-event/v1/events/json/x"',
    ]);
    expect(
      problemsOf(minimal.replace('https://fra1.qualtrics.com', 'https://qualtrics.com.evil.example')),
    ).to.deep.equal([
      'destination.url: expected a host under qualtrics.com, got "qualtrics.com.evil.example" (set destination.allowAnyHost: true to send elsewhere)',
    ]);
    expect(
      problemsOf(
        minimal
          .replace('https://fra1.qualtrics.com', 'http://127.0.0.1:8080')
          .replace('username:', 'allowAnyHost: true\n  username:'),
      ),
    ).to.deep.equal([]);
  });

  it('requires a hash tag in a Redis prefix, so keys stay Cluster-safe', () => {
    expect(problemsOf(`${minimal}redis: { url: "redis://127.0.0.1:6379", prefix: "qa:checkout" }\n`)).to.deep.equal([
      'redis.prefix: expected a key prefix with a hash tag, like qa:{checkout-survey}, got "qa:checkout"',
    ]);
    expect(problemsOf(`${minimal}redis: { url: "http://127.0.0.1:6379" }\n`)).to.deep.equal([
      'redis.url: expected a redis:// or rediss:// URL, got "http://127.0.0.1:6379"',
    ]);
  });

  it('takes exactly one source, and checks what each needs', () => {
    const withSource = (source: string, extra = '') =>
      minimal.replace('source: { websocket: { url: "ws://127.0.0.1:1/feed" } }', () => `source: ${source}`) + extra;
    const redis = 'redis: { url: "redis://127.0.0.1:6379" }\n';
    expect(problemsOf(withSource('{}'))).to.deep.equal(['source: set exactly one of websocket, redisStream or http']);
    expect(problemsOf(withSource('{ websocket: {} }'))).to.deep.equal([
      'source.websocket: set url (connect to a feed) or listen (let producers connect)',
    ]);
    expect(problemsOf(withSource('{ websocket: { url: "ws://x", listen: { port: 1, token: t } } }'))).to.deep.equal([
      'source.websocket.listen: set url or listen, not both',
    ]);
    expect(problemsOf(withSource('{ websocket: { listen: { port: 1, token: t }, headers: {} } }'))).to.deep.equal([
      'source.websocket.headers: only for a client (url), not with listen',
    ]);
    expect(problemsOf(withSource('{ redisStream: { stream: s } }'))).to.deep.equal([
      'source.redisStream.group: missing (expected a non-empty string)',
    ]);
    expect(problemsOf(withSource('{ redisStream: { stream: s, group: g } }'))).to.deep.equal([
      'source.redisStream: needs redis.url',
    ]);
    expect(problemsOf(withSource('{ redisStream: { stream: s, group: g } }', redis))).to.deep.equal([]);
    // A stream the program does not write may be relayed into a journal (another stream).
    expect(
      problemsOf(withSource('{ redisStream: { stream: s, group: g } }', `${redis}journal: { stream: j }\n`)),
    ).to.deep.equal([]);
    expect(
      problemsOf(withSource('{ redisStream: { stream: s, group: g } }', `${redis}journal: { stream: s }\n`)),
    ).to.deep.equal(['journal.stream: must differ from source.redisStream.stream']);
    expect(problemsOf(`${minimal}journal: { stream: j }\n`)).to.deep.equal(['journal: needs redis.url']);
    const listen = parseConfig(withSource('{ websocket: { listen: { port: 8080, token: "${TOKEN}" } } }'), {
      TOKEN: 'tok',
    });
    expect(
      listen.source.websocket && 'listen' in listen.source.websocket ? listen.source.websocket.listen : undefined,
    ).to.deep.include({
      host: '127.0.0.1',
      path: '/',
      port: 8080,
      maxPayloadBytes: 1_048_576,
    });
    expect(listen.pipeline.maxInFlight).to.equal(1000);
  });

  it('requires a username with basic auth but not with header auth', () => {
    const noUser = minimal.replace('  username: me@example.com\n', '');
    expect(problemsOf(noUser)).to.deep.equal([
      'destination.username: missing (auth: basic sends your Qualtrics username with the API token)',
    ]);
    expect(problemsOf(noUser.replace('apiToken:', 'auth: header\n  apiToken:'))).to.deep.equal([]);
  });

  it('reports every problem at once, each at its path: unknown keys, wrong types, missing mappings', () => {
    const text = `
name: ""
source: { websocket: { url: "http://feed", header: {} } }
destination: { url: "https://x.qualtrics.com/e", username: u, apiToken: "", auth: oauth }
audiences: []
identities: [{ source: Email, target: phone }]
attributes: [{ source: a, target: segmentMembership.x }]
statuses: [realized, gone]
extra: 1
`;
    expect(problemsOf(text)).to.deep.equal([
      'name: expected a non-empty string, got ""',
      'source.websocket.url: expected a ws:// or wss:// URL, got "http://feed"',
      'source.websocket.header: unknown key (expected one of: url, heartbeatSeconds, headers, resume); did you mean "headers"?',
      'destination.apiToken: expected a non-empty string (a secret), got an empty string',
      'destination.auth: expected basic | header, got "oauth"',
      'audiences: expected at least one entry, got an empty list',
      'statuses[1]: expected realized | exited | existing, got "gone"',
      'identities[0].target: expected email | external_id, got "phone"',
      'attributes[0].target: "segmentMembership" is filled by the pipeline itself; choose another target',
      'extra: unknown key (expected one of: name, source, pipeline, observability, shutdownGraceMs, state, destination, audiences, statuses, identities, attributes, dedupe, history, alerts, operators, description, redis, journal, access, privacy, deadLetters, governance, consent)',
    ]);
  });

  it('requires the mandatory sections', () => {
    expect(problemsOf('name: x')).to.deep.equal([
      'source: missing (set websocket, redisStream or http)',
      'destination: missing',
      'audiences: missing (expected non-empty list of {id, name?})',
      'identities: missing (expected non-empty list of {source, target}; at least one identity mapping is mandatory)',
    ]);
    expect(problemsOf('# nothing here\n')).to.deep.equal(['the config is empty']);
    expect(problemsOf('- a list')).to.deep.equal(['(top level): expected an object (config), got a list of 1']);
  });

  it('reports YAML syntax errors with their line', () => {
    const [problem] = problemsOf('name: [unclosed\n');
    expect(problem).to.match(/^YAML syntax at line 2, column \d+: .*: ".*"$/);
    expect(problemsOf('name: a\nname: b\n')[0]).to.match(
      /^YAML syntax at line \d, column \d+: Map keys must be unique/,
    );
  });

  it('says when the file cannot be read', async () => {
    const error = await loadConfig('no/such/file.yaml').catch((e: unknown) => e);
    expect(error).to.be.instanceOf(ConfigError);
    expect((error as ConfigError).problems[0]).to.match(/^cannot read the file: ENOENT/);
  });

  it('documents every key of the codec in the example config', () => {
    const example = readFileSync('examples/config.yaml', 'utf8');
    const keys = [
      'name:',
      'description:',
      'source:',
      'websocket:',
      'headers:',
      'destination:',
      'url:',
      'username:',
      'apiToken:',
      'auth:',
      'allowAnyHost:',
    ];
    keys.push(
      'rateLimit:',
      'requests:',
      'perSeconds',
      'concurrency:',
      'timeoutMs:',
      'maxPayloadBytes:',
      'retry:',
      'maxAttempts',
      'baseMs',
      'maxMs',
    );
    keys.push(
      'audiences:',
      'statuses:',
      'identities:',
      'attributes:',
      'dedupe:',
      'ttlSeconds:',
      'leaseSeconds:',
      'pollMs:',
      'deadLetters:',
      'file:',
      'redis:',
      'prefix:',
    );
    for (const key of keys) expect(example, key).to.contain(key);
  });

  it('decodes the HTTP intake for AEP, and refuses what cannot be run safely', () => {
    const withHttp = (http: string, extra = 'redis: { url: "redis://x" }\njournal: { stream: j }') =>
      `name: x\nsource: { http: ${http} }\n${extra}\n` +
      'destination: { url: "https://x.qualtrics.com/e", apiToken: t, auth: header }\n' +
      'audiences: [{ id: a1 }]\nidentities: [{ source: Email, target: email }]\n';
    const ok = parseConfig(withHttp('{ port: 8443, auth: { bearer: b } }'), {});
    expect(ok.source.http).to.deep.include({ host: '127.0.0.1', path: '/profiles', maxBodyBytes: 1_048_576 });
    expect(problemsOf(withHttp('{ port: 8443, auth: { none: true }, host: 0.0.0.0 }'))).to.deep.equal([
      'source.http.auth.none: only on a loopback host, not "0.0.0.0"',
    ]);
    expect(problemsOf(withHttp('{ port: 8443, auth: { bearer: b, none: true } }'))).to.deep.equal([
      'source.http.auth: set exactly one of bearer, oauth2 or none',
    ]);
    expect(
      problemsOf(withHttp('{ port: 8443, auth: { bearer: b }, tls: { cert: c, key: k, requireClientCert: true } }')),
    ).to.deep.equal(['source.http.tls.ca: missing (requireClientCert checks clients against this CA)']);
    expect(problemsOf(withHttp('{ port: 8443, auth: { bearer: b } }', 'redis: { url: "redis://x" }'))).to.deep.equal([
      'source.http: needs journal (and redis): profiles are stored before AEP is answered',
    ]);
  });
});
