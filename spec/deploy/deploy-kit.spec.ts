import { expect } from 'chai';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { validate as lintDockerfile } from 'dockerfile-utils';
import { parse, parseAllDocuments } from 'yaml';
import { CliProcesses, liveOutput } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';
import { eventually } from '../helpers/ws-server.js';

interface Container {
  readonly livenessProbe: { httpGet: { path: string } };
  readonly readinessProbe: { httpGet: { path: string } };
  readonly envFrom: { secretRef: { name: string } }[];
  readonly resources: { requests: Record<string, string> };
}

const read = (path: string): string => readFileSync(join('deploy', path), 'utf8');
const METRIC = /qualtrics_automations_[a-z_]+/g;

/** The metric names a real `run` exports, from its /metrics (histograms with their series suffixes). */
const scrapedNames = async (processes: CliProcesses): Promise<Set<string>> => {
  const dir = tempDir('qa-scrape-');
  const file = join(dir, 'config.yaml');
  writeFileSync(
    file,
    `
name: Scrape
source: { websocket: { listen: { port: 0, token: t } } }
destination: { url: "http://127.0.0.1:9/e", apiToken: x, auth: header, allowAnyHost: true }
audiences: [{ id: a1 }]
identities: [{ source: Email, target: email }]
observability: { port: 0 }
state: { dir: ${dir}/state }
deadLetters: { file: ${dir}/dead-letters.jsonl }
`,
  );
  const child = processes.start(['run', '--config', file]);
  const output = liveOutput(child);
  let url: string | undefined;
  await eventually(
    () => {
      url = /"observability":"(http:[^"]+)"/.exec(output.stderr())?.[1];
      return url !== undefined;
    },
    20_000,
    'the pipeline to start',
  );
  const text = await (await fetch(`${url}/metrics`)).text();
  const names = new Set<string>();
  for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(name!);
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${name}${suffix}`);
  }
  return names;
};

describe('the deploy kit (deploy/)', function () {
  this.timeout(60_000);
  const processes = new CliProcesses();
  afterEach(() => processes.killAll());

  it('the Dockerfile passes the linter, builds in stages and runs as a non-root user with a HEALTHCHECK', () => {
    const dockerfile = read('Dockerfile');
    expect(lintDockerfile(dockerfile)).to.deep.equal([]);
    // The linter does find problems: an unknown flag and a second CMD in one healthcheck.
    expect(lintDockerfile('FROM node:20\nHEALTHCHECK --bogus=1 CMD true\n')).not.to.be.empty;
    expect(dockerfile.match(/^FROM /gm)).to.have.length(2);
    expect(dockerfile).to.match(/^RUN npm ci --omit=dev/m);
    expect(dockerfile).to.match(/^USER node$/m);
    expect(dockerfile).to.match(/^HEALTHCHECK .*\n.*\/healthz/m);
  });

  it('the compose file parses and runs the pipeline beside Redis', () => {
    const compose = parse(read('compose.yaml')) as {
      services: Record<string, { image?: string; environment?: object }>;
    };
    expect(Object.keys(compose.services)).to.have.members(['redis', 'pipeline']);
    expect(compose.services.redis!.image).to.match(/^redis:/);
    expect(compose.services.pipeline!.environment).to.have.property('REDIS_URL', 'redis://redis:6379');
    // The identity hashing key comes from the environment, required, not generated into Redis.
    expect(compose.services.pipeline!.environment).to.have.property('IDENTITY_HASH_KEY');
    expect(read('config.yaml')).to.match(/^privacy:\n {2}identityHashKey: \$\{IDENTITY_HASH_KEY\}$/m);
  });

  it('the Kubernetes example parses: config from a ConfigMap, token from a Secret, probes, resources, PDB', () => {
    const docs = parseAllDocuments(read('kubernetes/qualtrics-automations.yaml')).map((d) => {
      expect(d.errors).to.deep.equal([]);
      return d.toJS() as { kind: string; data?: Record<string, string>; spec?: Record<string, unknown> };
    });
    const byKind = new Map(docs.map((d) => [d.kind, d]));
    expect([...byKind.keys()]).to.include.members(['ConfigMap', 'Secret', 'Deployment', 'PodDisruptionBudget']);
    // The ConfigMap holds the very config deploy/config.yaml is (and validate checks).
    expect(byKind.get('ConfigMap')!.data!['config.yaml']).to.equal(read('config.yaml'));
    const deployment = byKind.get('Deployment')!.spec as {
      replicas: number;
      template: { spec: { containers: Container[] } };
    };
    expect(deployment.replicas).to.be.greaterThan(1);
    const [container] = deployment.template.spec.containers;
    expect(container!.livenessProbe.httpGet.path).to.equal('/healthz');
    expect(container!.readinessProbe.httpGet.path).to.equal('/readyz');
    expect(container!.envFrom[0]!.secretRef.name).to.equal('qualtrics-automations');
    // privacy.identityHashKey (${IDENTITY_HASH_KEY}) from the Secret, at least 32 bytes.
    const secret = byKind.get('Secret') as unknown as { stringData: Record<string, string> };
    expect(Buffer.byteLength(secret.stringData.IDENTITY_HASH_KEY!)).to.be.at.least(32);
    expect(container!.resources.requests).to.have.keys(['cpu', 'memory']);
  });

  it('the config the kit deploys validates', async () => {
    const { code, stdout } = await processes.run(['validate', '--config', 'deploy/config.yaml'], {
      QUALTRICS_API_TOKEN: 'x',
      AEP_BEARER_TOKEN: 'y',
      METRICS_TOKEN: 'a-metrics-token-of-16-chars',
      CONSOLE_TOKEN: 'a-console-token-of-16-chars',
      IDENTITY_HASH_KEY: 'an-identity-hash-key-of-32-bytes-or-more',
    });
    expect(stdout).to.contain('deploy/config.yaml: OK');
    expect(code).to.equal(0);
  });

  it('every metric the Grafana dashboard and the alerting rules name exists in a real /metrics scrape', async () => {
    const dashboard = JSON.parse(read('grafana/dashboard.json')) as { panels: Array<{ targets: { expr: string }[] }> };
    const rules = parse(read('prometheus/alerts.yaml')) as {
      groups: Array<{ rules: { alert: string; expr: string }[] }>;
    };
    const exprs = [
      ...dashboard.panels.flatMap((panel) => panel.targets.map((target) => target.expr)),
      ...rules.groups.flatMap((group) => group.rules.map((rule) => rule.expr)),
    ];
    const named = new Set(exprs.flatMap((expr) => expr.match(METRIC) ?? []));
    expect(named.size).to.be.greaterThan(10);
    const scraped = await scrapedNames(processes);
    expect([...named].filter((name) => !scraped.has(name))).to.deep.equal([]);
  });

  it('the alerting rules match the built-in alerts, one each', () => {
    const rules = parse(read('prometheus/alerts.yaml')) as {
      groups: Array<{ rules: { labels: { alert_name: string } }[] }>;
    };
    const alertsTs = readFileSync('pipeline/alerts.ts', 'utf8');
    const builtIn = /export type AlertName =([^;]+);/
      .exec(alertsTs)![1]!
      .match(/'[a-z-]+'/g)!
      .map((s) => s.slice(1, -1));
    const covered = rules.groups.flatMap((group) => group.rules.map((rule) => rule.labels.alert_name));
    expect(covered).to.have.members(builtIn);
  });

  it('the dashboard has the panels a person opens first', () => {
    const titles = (JSON.parse(read('grafana/dashboard.json')) as { panels: { title: string }[] }).panels.map(
      (panel) => panel.title,
    );
    for (const wanted of [
      /^Activated/,
      /^Excluded by reason/,
      /^Failed by reason/,
      /latency/,
      /429/,
      /Backlog/,
      /Alerts/,
    ])
      expect(
        titles.some((title) => wanted.test(title)),
        String(wanted),
      ).to.equal(true);
  });

  it('the systemd unit runs the installed CLI and stops with SIGTERM', () => {
    const unit = read('systemd/qualtrics-automations.service');
    expect(unit).to.match(/^ExecStart=\/usr\/bin\/env qualtrics-automations run --config /m);
    expect(unit).to.match(/^KillSignal=SIGTERM$/m);
    expect(unit).to.match(/^User=qa$/m);
  });
});
