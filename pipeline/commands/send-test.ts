import { messageOf } from '../../operators/model/errors.js';
import got from 'got';
import { publicOnlyLookup } from '../../adapters/qualtrics/public-address.js';
import { performance } from 'node:perf_hooks';
import { authorizationHeaders } from '../../adapters/qualtrics/http-sender.js';
import { serializePayload } from '../../operators/model/payload.js';
import { setPath } from '../../operators/model/paths.js';
import type { JsonObject } from '../../operators/model/json.js';
import type { FlowConfig } from '../config/codec.js';
import { authOf } from '../wire.js';

/** A profile update built from the flow's own mapping: its first identity, first audience, every attribute. */
export const sampleProfile = (flow: FlowConfig, now = new Date()): JsonObject => {
  const [identity] = flow.identities;
  const [audience] = flow.audiences;
  let profile: JsonObject = {
    identityMap: {
      [identity!.source]: [
        { id: identity!.target === 'email' ? 'qualtrics-automations-test@example.com' : 'qualtrics-automations-test' },
      ],
    },
    segmentMembership: { ups: { [audience!.id]: { lastQualificationTime: now.toISOString(), status: 'realized' } } },
  };
  for (const { source } of flow.attributes) profile = setPath(profile, source, `sample ${source}`);
  return profile;
};

const HINTS: Readonly<Record<number, string>> = {
  401: 'the credentials were rejected: check destination.username and destination.apiToken (and destination.auth)',
  403: 'access refused: the API token may not trigger this workflow',
  404: 'nothing at that URL: copy the JSON Event URL from the workflow again, and check the workflow is enabled',
  413: 'the payload is too large for Qualtrics (100 KB)',
  429: 'rate limited: the brand is over 3,000 requests a minute right now',
};

/**
 * `qualtrics-automations send-test`: posts one sample update, mapped exactly as the pipeline would map
 * it, to the real destination, and reports what was sent (credentials hidden) and what came back.
 * Nothing goes through dedupe or the dead letters: it is a check of the URL and the credentials.
 */
export const sendTest = async (
  flow: FlowConfig,
  map: (profile: JsonObject) => Promise<JsonObject | string>,
): Promise<{ ok: boolean; report: string }> => {
  const mapped = await map(sampleProfile(flow));
  if (typeof mapped === 'string') return { ok: false, report: `the sample profile was not mapped: ${mapped}\n` };
  const body = serializePayload(mapped);
  const headers = { 'content-type': 'application/json', ...authorizationHeaders(authOf(flow)) };
  // Credentials are never printed: only which kind was sent.
  const shown = Object.entries(headers).map(([name, value]) =>
    name === 'authorization'
      ? 'authorization: Basic [hidden]'
      : name === 'x-api-token'
        ? 'x-api-token: [hidden]'
        : `${name}: ${value}`,
  );
  const lines = ['Sent', `  POST ${flow.destination.url}`, ...shown.map((h) => `  ${h}`), `  ${body}`, ''];
  const start = performance.now();
  try {
    const response = await got.post(flow.destination.url, {
      body,
      headers,
      throwHttpErrors: false,
      retry: { limit: 0 },
      followRedirect: false,
      timeout: { request: flow.destination.timeoutMs },
      // As the pipeline's sender: no private address unless allowAnyHost.
      ...(flow.destination.allowAnyHost ? {} : { dnsLookup: publicOnlyLookup }),
    });
    const ms = Math.round(performance.now() - start);
    const ok = response.statusCode >= 200 && response.statusCode < 300;
    lines.push('Received', `  ${response.statusCode} ${response.statusMessage ?? ''} in ${ms} ms`.trimEnd());
    if (response.headers['retry-after']) lines.push(`  retry-after: ${response.headers['retry-after']}`);
    lines.push(`  ${response.body.length > 2000 ? `${response.body.slice(0, 2000)}...` : response.body}`, '');
    lines.push(
      ok
        ? "OK: the destination accepted the event; check the workflow's Run history."
        : `Not accepted: ${HINTS[response.statusCode] ?? 'see the answer above'}.`,
    );
    return { ok, report: `${lines.join('\n')}\n` };
  } catch (error) {
    lines.push(
      'Received',
      `  no answer: ${messageOf(error)}`,
      '',
      'Not accepted: check the URL, the network, and destination.timeoutMs.',
    );
    return { ok: false, report: `${lines.join('\n')}\n` };
  }
};
