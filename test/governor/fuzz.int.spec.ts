import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadGovernorConfig } from '../../apps/governor/config.js';
import { createGovernor, type RunningGovernor } from '../../apps/governor/create-governor.js';
import { parseStrictJson } from '../../apps/governor/http/strict-json.js';
import { ERROR_CATALOGUE, isErrorCode } from '../../libs/platform/error-catalogue.js';
import { createLogger } from '../../libs/platform/logger.js';
import { encodeBase64Json } from '../../libs/x402/encoding.js';
import { call, paymentRequiredHeader, seedAgent } from '../support/api-client.js';
import { documentedRoutes, fillPath, FIXTURE_TOKEN, ok, pathValue, seedOrgFixture, validBody, validHeaders, type ApiRoute, type JsonSchema, type OrgFixture } from '../support/api-routes.js';
import { freshDatabase, type TestDatabase } from '../support/database.js';
import { rawRequest, type RawAnswer, type RawRequest } from '../support/raw-http.js';
import { changedState, stateFingerprint } from '../support/state-fingerprint.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

// Hostile requests against every route of the OpenAPI document the governor serves (#17,
// "Make it stay fixed"): the cases the issue found (the corpus), then seeded random ones
// (fast-check) that mutate well-formed calls: bodies, encodings, paths, queries, headers.
// Every answer must be a 4xx or 2xx, never a 5xx (a 503 with Retry-After only while the
// database is cut on purpose); every problem carries a code of the catalogue, with its
// status, and `field` when the input is wrong; a case built to be refused is refused; and a
// refused request leaves the event log and the read models as they were.
//
// In `npm test`: 400 random cases (seed 17) within 60 s. `npm run test:fuzz`
// (PAYBOUND_FUZZ=full): 6000, unbounded in time. PAYBOUND_FUZZ_RUNS, PAYBOUND_FUZZ_SEED and
// PAYBOUND_FUZZ_TIME_LIMIT_MS override either.

const ROOT = 'root-admin-token-fuzz';
const WORKER = 'worker-token-fuzz-0123456789';
const FULL = process.env.PAYBOUND_FUZZ === 'full';
const RUNS = Number(process.env.PAYBOUND_FUZZ_RUNS ?? (FULL ? 6000 : 400));
const SEED = Number(process.env.PAYBOUND_FUZZ_SEED ?? 17);
const TIME_LIMIT_MS = Number(process.env.PAYBOUND_FUZZ_TIME_LIMIT_MS ?? (FULL || process.env.PAYBOUND_FUZZ_RUNS !== undefined ? Number.POSITIVE_INFINITY : 60_000));
const OUTAGE_RUNS = 40;
const JSON_TYPE: [string, string] = ['Content-Type', 'application/json'];

interface FuzzCase {
  name: string;
  route: ApiRoute | undefined;
  request: RawRequest;
  /** Built so that it must be refused (a 2xx is an unexpected success); otherwise it may pass. */
  mustRefuse: boolean;
}

/** Characters the boundary refuses in any string. */
const POISONS = ['\u0000', '\ud800', '\udfff', '\u0001', '\u001b', '\u007f', '\u0085', '\u009b', 'a\u0000b', '\ud83d'];
/** Amounts no store can hold or that are not USD decimal strings. */
const HOSTILE_AMOUNTS: unknown[] = ['1000000000000000000000000000000', '1e30', '-1', '0.0000001', '99999999999999.00', ' 1.00', '1,00', 1e30, 0.5, '0x10', 'NaN'];
/** Path values that name nothing, or nothing that may exist. */
const HOSTILE_PATH_VALUES = ['%00', 'a%00b', '%01', '%0A', '%0D%0A', '%7F', '%C2%85', '%ED%A0%80', '%E0%A4%A', '%FF', '%C0%AF', 'x'.repeat(3000), '..%2F..%2Fetc', '%25%30%30'];
const HOSTILE_QUERIES = ['a=1&a=2', 'limit=1&limit=2', 'q=%00', 'orgId=%00', 'x=%E0%A4%A', 'x=%0D%0AInjected:%201', 'x=%ED%A0%80', 'x=%7F', `x=${'y'.repeat(5000)}`, '%00=1', 'after=1&after=1'];

function authFor(route: ApiRoute | undefined, fixture: OrgFixture): [string, string][] {
  switch (route?.audience) {
    case 'agent':
      return [['Authorization', `Bearer ${fixture.agentKey}`]];
    case 'admin':
      return [['Authorization', `Bearer ${ROOT}`]];
    case 'worker':
      return [['Authorization', `Bearer ${WORKER}`]];
    case 'public':
    case undefined:
      return [];
  }
}

function target(route: ApiRoute, fixture: OrgFixture, override?: { param: string; raw: string }): string {
  return fillPath(route, (param) => (override?.param === param ? override.raw : encodeURIComponent(pathValue(route, param, fixture))));
}

/** A well-formed call of the route, with `body` (text) in place of the valid one when given. */
function wellFormed(route: ApiRoute, fixture: OrgFixture, resolve: (s: JsonSchema) => JsonSchema, changes: { body?: string | Buffer; headers?: [string, string][]; target?: string } = {}): RawRequest {
  const valid = validBody(route, fixture, resolve);
  const body = changes.body ?? (valid === undefined ? undefined : JSON.stringify(valid));
  return {
    method: route.method,
    target: changes.target ?? target(route, fixture),
    // Headers given replace the Content-Type decision: a case that sends none means none.
    headers: [...authFor(route, fixture), ...validHeaders(route), ...(body === undefined || changes.headers !== undefined ? [] : [JSON_TYPE]), ...(changes.headers ?? [])],
    body,
    timeoutMs: 15_000,
  };
}

/** Every string leaf and key of a JSON value, as paths. */
function stringPaths(value: unknown, path: (string | number)[] = []): { path: (string | number)[]; key: boolean }[] {
  if (typeof value === 'string') return [{ path, key: false }];
  if (Array.isArray(value)) return value.flatMap((v, i) => stringPaths(v, [...path, i]));
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).flatMap(([k, v]) => [{ path: [...path, k], key: true }, ...stringPaths(v, [...path, k])]);
  }
  return [];
}

function objectPaths(value: unknown, path: (string | number)[] = []): (string | number)[][] {
  if (Array.isArray(value)) return value.flatMap((v, i) => objectPaths(v, [...path, i]));
  if (value !== null && typeof value === 'object') return [path, ...Object.entries(value).flatMap(([k, v]) => objectPaths(v, [...path, k]))];
  return [];
}

function at(root: unknown, path: (string | number)[]): unknown {
  return path.reduce<unknown>((node, step) => (node as Record<string | number, unknown>)[step], root);
}

/** JSON text of `root` where the object at `path` carries its key `key` twice (the second with `second`). */
function withDuplicateKey(root: unknown, path: (string | number)[], key: string, second: unknown): string {
  const render = (node: unknown, here: (string | number)[]): string => {
    if (Array.isArray(node)) return `[${node.map((v, i) => render(v, [...here, i])).join(',')}]`;
    if (node !== null && typeof node === 'object') {
      const parts = Object.entries(node).map(([k, v]) => `${JSON.stringify(k)}:${render(v, [...here, k])}`);
      if (JSON.stringify(here) === JSON.stringify(path)) parts.push(`${JSON.stringify(key)}:${JSON.stringify(second)}`);
      return `{${parts.join(',')}}`;
    }
    return JSON.stringify(node);
  };
  return render(root, []);
}

function setAt(root: unknown, path: (string | number)[], value: unknown): unknown {
  if (path.length === 0) return value;
  const copy = structuredClone(root) as Record<string | number, unknown>;
  const parent = at(copy, path.slice(0, -1)) as Record<string | number, unknown>;
  parent[path.at(-1)!] = value;
  return copy;
}

function renameKey(root: unknown, path: (string | number)[], name: string): unknown {
  const copy = structuredClone(root) as Record<string, unknown>;
  const parent = at(copy, path.slice(0, -1)) as Record<string, unknown>;
  const key = String(path.at(-1));
  const value = parent[key];
  delete parent[key];
  parent[name] = value;
  return copy;
}

const insertAt = (text: string, index: number, poison: string) => {
  const i = text.length === 0 ? 0 : index % (text.length + 1);
  return `${text.slice(0, i)}${poison}${text.slice(i)}`;
};

interface Draw {
  route: number;
  kind: string;
  pick: number;
  poison: string;
  depth: number;
  amount: unknown;
  junk: unknown;
  bytes: Uint8Array;
  pathValue: string;
  query: string;
}

const KINDS = [
  'poison_value',
  'poison_key',
  'duplicate_key',
  'deep',
  'non_finite',
  'unknown_property',
  'hostile_amount',
  'type_swap',
  'random_json',
  'bad_bytes',
  'encoding',
  'huge',
  'path_param',
  'query',
  'auth',
  'header_injection',
  'idempotency_key',
  'if_match',
  'last_event_id',
] as const;

const ENCODINGS: { name: string; headers: [string, string][]; body: (json: string) => string | Buffer }[] = [
  { name: 'form', headers: [['Content-Type', 'application/x-www-form-urlencoded']], body: () => 'limit=0.01&name=x' },
  { name: 'text/plain', headers: [['Content-Type', 'text/plain']], body: (j) => j },
  { name: 'no content type', headers: [], body: (j) => j },
  { name: 'utf-16 charset', headers: [['Content-Type', 'application/json; charset=utf-16']], body: (j) => Buffer.from(j, 'utf16le') },
  { name: 'utf-16 bom', headers: [JSON_TYPE], body: (j) => Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(j, 'utf16le')]) },
  { name: 'latin1 charset', headers: [['Content-Type', 'application/json; charset=iso-8859-1']], body: (j) => Buffer.from(j, 'latin1') },
  { name: 'gzip', headers: [JSON_TYPE, ['Content-Encoding', 'gzip']], body: (j) => j },
  { name: 'xml', headers: [['Content-Type', 'application/xml']], body: () => '<a/>' },
  { name: 'multipart', headers: [['Content-Type', 'multipart/form-data; boundary=x']], body: () => '--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--x--' },
];

const AMOUNT_FIELDS = ['limit', 'maxPerPayment', 'approvalAbove', 'maxPrice'];

/** The seeded random draws of a run. */
function sampleDraws(seed: number, runs: number): Draw[] {
  return fc.sample(
    fc.record({
      route: fc.nat(),
      kind: fc.constantFrom(...KINDS),
      pick: fc.nat(1_000_000),
      poison: fc.constantFrom(...POISONS),
      depth: fc.integer({ min: 65, max: 25_000 }),
      amount: fc.constantFrom(...HOSTILE_AMOUNTS),
      junk: fc.jsonValue({ maxDepth: 3 }).filter((v) => {
        try {
          parseStrictJson(JSON.stringify(v));
          return true;
        } catch {
          return false;
        }
      }),
      bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }),
      pathValue: fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }),
      query: fc.constantFrom(...HOSTILE_QUERIES),
    }),
    { seed, numRuns: runs },
  );
}

function generatedCase(draw: Draw, routes: ApiRoute[], fixture: OrgFixture, resolve: (s: JsonSchema) => JsonSchema): FuzzCase {
  const route = routes[draw.route % routes.length]!;
  const valid = validBody(route, fixture, resolve) ?? {};
  const name = (detail: string) => `${draw.kind} ${route.method} ${route.template}: ${detail}`;
  const withBody = (body: string | Buffer, mustRefuse: boolean, detail: string, headers?: [string, string][]): FuzzCase => ({
    name: name(detail),
    route,
    request: wellFormed(route, fixture, resolve, { body, headers }),
    mustRefuse,
  });
  switch (draw.kind as (typeof KINDS)[number]) {
    case 'poison_value': {
      const leaves = stringPaths(valid).filter((p) => !p.key);
      if (leaves.length === 0) return withBody(JSON.stringify({ ...(valid), fuzz: draw.poison }), true, 'a poisoned string added');
      const leaf = leaves[draw.pick % leaves.length]!;
      return withBody(JSON.stringify(setAt(valid, leaf.path, insertAt(String(at(valid, leaf.path)), draw.pick, draw.poison))), true, `poison in ${leaf.path.join('.')}`);
    }
    case 'poison_key': {
      const keys = stringPaths(valid).filter((p) => p.key);
      if (keys.length === 0) return withBody(JSON.stringify({ [`k${draw.poison}`]: 1 }), true, 'a poisoned key');
      const key = keys[draw.pick % keys.length]!;
      return withBody(JSON.stringify(renameKey(valid, key.path, insertAt(String(key.path.at(-1)), draw.pick, draw.poison))), true, `poisoned key ${key.path.join('.')}`);
    }
    case 'duplicate_key': {
      const objects = objectPaths(valid).filter((p) => Object.keys(at(valid, p) as object).length > 0);
      if (objects.length === 0) return withBody('{"a":1,"a":2}', true, 'duplicate key in a bare object');
      const path = objects[draw.pick % objects.length]!;
      const keys = Object.keys(at(valid, path) as object);
      const key = keys[draw.pick % keys.length]!;
      return withBody(withDuplicateKey(valid, path, key, draw.amount), true, `key ${[...path, key].join('.')} twice`);
    }
    case 'deep': {
      const nested = `${'['.repeat(draw.depth)}${']'.repeat(draw.depth)}`;
      const leaves = stringPaths(valid).filter((p) => !p.key);
      const text = leaves.length === 0 ? nested : JSON.stringify(setAt(valid, leaves[draw.pick % leaves.length]!.path, '__DEEP__')).replace('"__DEEP__"', nested);
      return withBody(text, true, `${draw.depth} levels deep`);
    }
    case 'non_finite': {
      const leaves = stringPaths(valid).filter((p) => !p.key);
      const text = leaves.length === 0 ? '{"n":1e999}' : JSON.stringify(setAt(valid, leaves[draw.pick % leaves.length]!.path, '__BIG__')).replace('"__BIG__"', '-1e400');
      return withBody(text, true, 'a number out of range');
    }
    case 'unknown_property':
      if (route.body === undefined) return withBody(JSON.stringify({ a: draw.poison }), true, 'a poisoned body where none is read');
      return withBody(JSON.stringify({ ...(valid), [`fuzz_${draw.pick}`]: draw.junk }), true, 'an unknown property');
    case 'hostile_amount': {
      const field = Object.keys(valid).find((k) => AMOUNT_FIELDS.includes(k));
      if (route.body === undefined || field === undefined) return withBody(JSON.stringify({ limit: '1e30', z: '\u0000' }), true, 'an amount and a NUL where no body is read');
      return withBody(JSON.stringify({ ...(valid), [field]: draw.amount }), true, `${field} = ${JSON.stringify(draw.amount)}`);
    }
    case 'type_swap': {
      const leaves = [...stringPaths(valid).filter((p) => !p.key)];
      if (route.body === undefined || leaves.length === 0) return withBody(JSON.stringify({ a: '\u0000' }), true, 'a poisoned body where none is read');
      const leaf = leaves[draw.pick % leaves.length]!;
      return withBody(JSON.stringify(setAt(valid, leaf.path, draw.junk)), false, `${leaf.path.join('.')} = ${JSON.stringify(draw.junk)?.slice(0, 60)}`);
    }
    case 'random_json': {
      const text = JSON.stringify(draw.junk) ?? 'null';
      // Without a body schema the route ignores a clean body; with one, anything but its shape is refused.
      return withBody(text, route.body !== undefined && typeof draw.junk !== 'object', `body ${text.slice(0, 60)}`);
    }
    case 'bad_bytes': {
      const bytes = Buffer.from(draw.bytes);
      let parses = true;
      try {
        parseStrictJson(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
      } catch {
        parses = false;
      }
      return withBody(bytes, !parses, `${bytes.length} random bytes`);
    }
    case 'encoding': {
      const encoding = ENCODINGS[draw.pick % ENCODINGS.length]!;
      return withBody(encoding.body(JSON.stringify(valid)), true, encoding.name, encoding.headers);
    }
    case 'huge':
      return withBody(JSON.stringify({ ...(valid), pad: 'x'.repeat(129 * 1024 + draw.pick) }), true, 'a body over 128 KiB');
    case 'path_param': {
      if (route.pathParams.length === 0) return { name: name('no parameter: a query instead'), route, request: { ...wellFormed(route, fixture, resolve), target: `${target(route, fixture)}?${draw.query}` }, mustRefuse: true };
      const param = route.pathParams[draw.pick % route.pathParams.length]!;
      const raw = draw.pick % 3 === 0 ? encodeURIComponent(draw.pathValue) || '%00' : HOSTILE_PATH_VALUES[draw.pick % HOSTILE_PATH_VALUES.length]!;
      return { name: name(`${param} = ${raw.slice(0, 40)}`), route, request: wellFormed(route, fixture, resolve, { target: target(route, fixture, { param, raw }) }), mustRefuse: true };
    }
    case 'query':
      return { name: name(draw.query.slice(0, 60)), route, request: wellFormed(route, fixture, resolve, { target: `${target(route, fixture)}?${draw.query}` }), mustRefuse: true };
    case 'auth': {
      if (route.audience === 'public') return { name: name('a query on a public route'), route, request: wellFormed(route, fixture, resolve, { target: `${target(route, fixture)}?${draw.query}` }), mustRefuse: true };
      const wrong: [string, string][][] = [
        [],
        [['Authorization', `Bearer pb_agent_${'A'.repeat(43)}`]],
        [['Authorization', `Bearer pb_admin_${'A'.repeat(43)}`]],
        [['Authorization', 'Basic YWRtaW46YWRtaW4=']],
        [['Authorization', `Bearer ${'x'.repeat(300)}`]],
        [['Authorization', route.audience === 'agent' ? `Bearer ${ROOT}` : `Bearer ${fixture.agentKey}`]],
        [['Authorization', `Bearer ${fixture.financeKey}`]],
      ];
      const headers = wrong[draw.pick % wrong.length]!;
      // A finance key reads: only its writes, and its reads of what spans every org, must be refused.
      if (headers[0]?.[1] === `Bearer ${fixture.financeKey}` && route.audience === 'admin' && route.method === 'GET') return { name: name('finance key on a read'), route, request: wellFormedWithAuth(route, fixture, resolve, headers), mustRefuse: false };
      return { name: name(`Authorization ${headers[0]?.[1].slice(0, 30) ?? '(none)'}`), route, request: wellFormedWithAuth(route, fixture, resolve, headers), mustRefuse: true };
    }
    case 'header_injection': {
      const header = ['X-Fuzz', 'Idempotency-Key', 'Authorization', 'Accept', 'Content-Type'][draw.pick % 5]!;
      const value = ['a\rb', 'a\nb', 'a\r\nX-Injected: 1', 'a\u0000b'][draw.pick % 4]!;
      const request = wellFormed(route, fixture, resolve);
      const headers = request.headers ?? [];
      // CR LF ends the line: what arrives is two well-formed headers, refused only when the
      // first repeats a single-value header the call already carries.
      const splits = value.includes('\r\n');
      const repeats = ['Authorization', 'Content-Type'].includes(header) && headers.some(([n]) => n.toLowerCase() === header.toLowerCase());
      return { name: name(`${header}: ${JSON.stringify(value)}`), route, request: { ...request, headers: [...headers, [header, value]] }, mustRefuse: !splits || repeats };
    }
    case 'idempotency_key': {
      if (!route.headerParams.includes('Idempotency-Key')) return { name: name('a poisoned query instead'), route, request: wellFormed(route, fixture, resolve, { target: `${target(route, fixture)}?x=%00` }), mustRefuse: true };
      const key = ['', 'has space', 'x'.repeat(256), 'caf\u00e9', '\u00ff'][draw.pick % 5]!;
      return withBody(JSON.stringify(valid), true, `Idempotency-Key ${JSON.stringify(key).slice(0, 30)}`, [JSON_TYPE, ['Idempotency-Key', key]]);
    }
    case 'if_match': {
      if (!route.headerParams.includes('If-Match')) return { name: name('a repeated query instead'), route, request: wellFormed(route, fixture, resolve, { target: `${target(route, fixture)}?a=1&a=1` }), mustRefuse: true };
      const value = ['v1', '"x"', 'W/', '"99999999999"', '1', '"-1"'][draw.pick % 6]!;
      const request = wellFormed(route, fixture, resolve);
      return { name: name(`If-Match ${value}`), route, request: { ...request, headers: (request.headers ?? []).map(([n, v]) => (n === 'If-Match' ? [n, value] : [n, v])) }, mustRefuse: true };
    }
    case 'last_event_id': {
      if (!route.streams) return { name: name('a malformed escape in the query instead'), route, request: wellFormed(route, fixture, resolve, { target: `${target(route, fixture)}?x=%E0%A4` }), mustRefuse: true };
      const value = ['abc', '-1', '1.2.3', '99999999999999999999999.1', "1'; DROP"][draw.pick % 5]!;
      return { name: name(`Last-Event-ID ${value}`), route, request: wellFormed(route, fixture, resolve, { headers: [['Last-Event-ID', value]] }), mustRefuse: true };
    }
  }
}

function wellFormedWithAuth(route: ApiRoute, fixture: OrgFixture, resolve: (s: JsonSchema) => JsonSchema, auth: [string, string][]): RawRequest {
  const request = wellFormed(route, fixture, resolve);
  return { ...request, headers: [...auth, ...(request.headers ?? []).filter(([n]) => n !== 'Authorization')] };
}

/** A v2 PAYMENT-REQUIRED value from any offer object (hostile ones included). */
const offerHeader = (offer: unknown) => encodeBase64Json(offer);
const hostileOffer = (changes: Record<string, unknown>) => ({
  x402Version: 2,
  resource: { url: 'http://api.example.com/data', description: 'data' },
  accepts: [{ scheme: 'exact', network: 'eip155:31337', amount: '1000', asset: FIXTURE_TOKEN, payTo: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8', maxTimeoutSeconds: 60, extra: { name: 'Test USD', version: '1' }, ...changes }],
});

/** Every case #17 reported, against the route it was found on. */
function corpus(routes: ApiRoute[], fixture: OrgFixture, resolve: (s: JsonSchema) => JsonSchema): FuzzCase[] {
  const route = (method: string, template: string) => {
    const found = routes.find((r) => r.method === method && r.template === template);
    if (found === undefined) throw new Error(`${method} ${template} is not in the OpenAPI document`);
    return found;
  };
  const sessions = route('POST', '/v1/sessions');
  const fetchRoute = route('POST', '/v1/sessions/{id}/fetch');
  const signOnly = route('POST', '/v1/sessions/{id}/payments');
  const orgPolicy = route('PUT', '/admin/v1/orgs/{orgId}/policy');
  const cases: FuzzCase[] = [];
  const add = (name: string, r: ApiRoute, changes: Parameters<typeof wellFormed>[3], mustRefuse = true) => cases.push({ name: `corpus: ${name}`, route: r, request: wellFormed(r, fixture, resolve, changes), mustRefuse });
  const json = (value: unknown) => JSON.stringify(value);

  add('NUL in session metadata', sessions, { body: String.raw`{"limit":"0.01","metadata":{"k":"a\u0000"}}` });
  add('a lone surrogate in session metadata', sessions, { body: String.raw`{"limit":"0.01","metadata":{"k":"\ud800"}}` });
  add('NUL in a pay-and-fetch URL', fetchRoute, { body: json({ url: 'http://api.example.com/a\u0000b' }) });
  add('NUL in a sign-only URL', signOnly, { body: json({ paymentRequired: paymentRequiredHeader({ amount: '1000', asset: FIXTURE_TOKEN, payTo: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8' }), url: 'http://api.example.com/\u0000' }) });
  add('duplicate keys "limit":"0.01","limit":"99999"', sessions, { body: '{"limit":"0.01","limit":"99999"}' });
  add('a 20,000-deep session body', sessions, { body: `{"limit":"0.01","metadata":${'['.repeat(20_000)}${']'.repeat(20_000)}}` });
  add('a 20,000-deep pay-and-fetch body', fetchRoute, { body: `{"url":"http://api.example.com/x","method":"POST","body":${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}}` });
  add('a UTF-16 body', sessions, { body: Buffer.from('{"limit":"0.01"}', 'utf16le'), headers: [['Content-Type', 'application/json; charset=utf-16le']] });
  add('a form body (curl -d)', sessions, { body: 'limit=0.01', headers: [['Content-Type', 'application/x-www-form-urlencoded']] });
  add('a policy PUT with a form body', orgPolicy, { body: 'maxPerPayment=', headers: [['Content-Type', 'application/x-www-form-urlencoded']] });
  cases.push({ name: 'corpus: a policy PUT without a body', route: orgPolicy, request: { ...wellFormed(orgPolicy, fixture, resolve), body: undefined, headers: [['Authorization', `Bearer ${ROOT}`], ['If-Match', '*']] }, mustRefuse: true });
  cases.push({ name: 'corpus: a policy PUT without If-Match', route: orgPolicy, request: { ...wellFormed(orgPolicy, fixture, resolve), headers: [['Authorization', `Bearer ${ROOT}`], JSON_TYPE] }, mustRefuse: true });
  cases.push({ name: 'corpus: GET the policy of an org that does not exist', route: route('GET', '/admin/v1/orgs/{orgId}/policy'), request: { method: 'GET', target: '/admin/v1/orgs/nope/policy', headers: [['Authorization', `Bearer ${ROOT}`]] }, mustRefuse: true });
  for (const r of routes.filter((x) => x.pathParams.length > 0)) {
    for (const param of r.pathParams) cases.push({ name: `corpus: %00 in ${param} of ${r.method} ${r.template}`, route: r, request: wellFormed(r, fixture, resolve, { target: target(r, fixture, { param, raw: 'x%00' }) }), mustRefuse: true });
  }
  // Every route is called at least once whatever the random draws pick: a stray NUL query on those without parameters.
  for (const r of routes.filter((x) => x.pathParams.length === 0 && x.queryParams.length === 0)) {
    cases.push({ name: `corpus: a NUL query on ${r.method} ${r.template}`, route: r, request: wellFormed(r, fixture, resolve, { target: `${target(r, fixture)}?x=%00` }), mustRefuse: true });
  }
  for (const r of routes.filter((x) => x.queryParams.length > 0)) {
    cases.push({ name: `corpus: %00 in ?${r.queryParams[0]} of ${r.template}`, route: r, request: wellFormed(r, fixture, resolve, { target: `${target(r, fixture)}?${r.queryParams[0]}=%00` }), mustRefuse: true });
    cases.push({ name: `corpus: ?${r.queryParams[0]} twice on ${r.template}`, route: r, request: wellFormed(r, fixture, resolve, { target: `${target(r, fixture)}?${r.queryParams[0]}=1&${r.queryParams[0]}=2` }), mustRefuse: true });
  }
  for (const value of ['a\rb', 'a\nb', 'a\u0000b']) {
    cases.push({ name: `corpus: ${JSON.stringify(value)} in a request header`, route: sessions, request: wellFormed(sessions, fixture, resolve, { headers: [JSON_TYPE, ['X-Test', value]] }), mustRefuse: true });
  }
  for (const value of ['a\r\nX-Injected: 1', 'a\u0000b', 'caf\u20ac', 'line\nbreak']) {
    add(`${JSON.stringify(value)} in a pay-and-fetch header value`, fetchRoute, { body: json({ url: 'http://127.0.0.1:9/x', headers: { 'X-Agent': value } }) });
  }
  add('a URL with credentials for pay-and-fetch', fetchRoute, { body: json({ url: 'http://user:secret@api.example.com/data' }) });
  add('10^30 as a session limit', sessions, { body: json({ limit: '1000000000000000000000000000000' }) });
  add('invalid_amount names its field', sessions, { body: json({ limit: '99999999999999.00' }) });
  add('10^30 as a number', sessions, { body: '{"limit":1e30}' });
  add('NUL in an org name', route('POST', '/admin/v1/orgs'), { body: json({ id: 'nul-org', name: 'a\u0000' }) });
  add('NUL in a team name', route('POST', '/admin/v1/orgs/{orgId}/teams'), { body: json({ id: 'nul-team', name: 'a\u0000' }) });
  add('NUL in an agent name', route('POST', '/admin/v1/orgs/{orgId}/agents'), { body: json({ id: 'nul-agent', name: '\u0000' }) });
  add('a duplicate admin key name', route('POST', '/admin/v1/admin-keys'), { body: json({ name: fixture.orgAdminName, scope: 'finance', orgId: fixture.orgId }) });
  add('NUL in an offer description', signOnly, { body: json({ paymentRequired: offerHeader({ ...hostileOffer({}), resource: { url: 'http://api.example.com/data', description: 'a\u0000b' } }), url: 'http://api.example.com/data' }) });
  add('NUL in an offer extra', signOnly, { body: json({ paymentRequired: offerHeader(hostileOffer({ extra: { name: 'Test USD', version: '1', note: '\u0000' } })), url: 'http://api.example.com/data' }) });
  add('a 20,000-deep offer', signOnly, { body: json({ paymentRequired: Buffer.from(`{"x402Version":2,"accepts":[],"extensions":${'['.repeat(20_000)}${']'.repeat(20_000)}}`).toString('base64'), url: 'http://api.example.com/data' }) });
  add('an agent key on the admin API', route('GET', '/admin/v1/audit'), { headers: [] }, true);
  cases.at(-1)!.request.headers = [['Authorization', `Bearer ${fixture.agentKey}`]];
  add('the admin token on the agent API', route('GET', '/v1/sessions/{id}'), {}, true);
  cases.at(-1)!.request.headers = [['Authorization', `Bearer ${ROOT}`]];
  return cases;
}

/**
 * Offers whose amount no store can hold (10^30 atomic units), sent to their own org: a
 * refusal must not leave that org, or any other, unable to answer. Run last, apart.
 */
function hugeAmountCases(routes: ApiRoute[], fixture: OrgFixture, resolve: (s: JsonSchema) => JsonSchema): FuzzCase[] {
  const signOnly = routes.find((r) => r.method === 'POST' && r.template === '/v1/sessions/{id}/payments')!;
  return [
    {
      name: 'corpus: a sign-only offer of 10^30 atomic units',
      route: signOnly,
      request: wellFormed(signOnly, fixture, resolve, { body: JSON.stringify({ paymentRequired: offerHeader(hostileOffer({ amount: `1${'0'.repeat(30)}` })), url: 'http://api.example.com/data' }) }),
      mustRefuse: true,
    },
  ];
}

interface Verdict {
  problems: string[];
  unexpectedSuccess: boolean;
  fiveHundreds: boolean;
  /** A 502 the contract gives a seller's malformed offer (API.md): a refusal, not a failure. */
  upstreamRefusal: boolean;
}

function judge(c: FuzzCase, answer: RawAnswer, changed: string[] | undefined, outage: boolean): Verdict {
  const problems: string[] = [];
  const body = answer.json;
  const code = typeof body?.code === 'string' ? body.code : undefined;
  const upstreamRefusal =
    answer.status >= 500 && code !== undefined && isErrorCode(code) && ERROR_CATALOGUE[code].kind === 'upstream' && (c.route?.documentedStatuses.includes(answer.status) ?? false);
  const fiveHundreds = answer.status >= 500 && !upstreamRefusal && !(outage && answer.status === 503 && answer.header('retry-after') !== undefined);
  if (fiveHundreds) problems.push(`answered ${answer.status} ${code ?? ''}: ${typeof body?.detail === 'string' ? body.detail : answer.body.toString('utf8').slice(0, 120)}`);
  if (answer.status >= 400) {
    if (!(answer.header('content-type') ?? '').startsWith('application/problem+json')) problems.push(`a ${answer.status} that is not problem+json (${answer.header('content-type') ?? 'no content type'})`);
    if (code === undefined || !isErrorCode(code)) problems.push(`code ${String(code)} is not in the catalogue`);
    else {
      if (ERROR_CATALOGUE[code].httpStatus !== answer.status || body?.status !== answer.status) problems.push(`code ${code} answered ${answer.status}, the catalogue says ${ERROR_CATALOGUE[code].httpStatus}`);
      if ((code === 'invalid_request' || code === 'invalid_amount') && typeof body?.field !== 'string') problems.push(`${code} without a field`);
      if (changed !== undefined && changed.length > 0 && ERROR_CATALOGUE[code].kind !== 'refusal') problems.push(`refused with ${code}, yet changed ${changed.join(', ')}`);
    }
  }
  const unexpectedSuccess = c.mustRefuse && answer.status < 400;
  if (unexpectedSuccess) problems.push(`accepted (${answer.status}) though built to be refused`);
  return { problems, unexpectedSuccess, fiveHundreds, upstreamRefusal };
}

describe('fuzz: hostile requests against every documented route', () => {
  let db: TestDatabase;
  let proxy: TcpProxy;
  let governor: RunningGovernor;
  let base: string;
  let fixture: OrgFixture;
  let amountFixture: OrgFixture;
  let routes: ApiRoute[];
  let resolve: (s: JsonSchema) => JsonSchema;

  beforeAll(async () => {
    db = await freshDatabase('fuzz');
    const target = new URL(db.url);
    proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port) });
    const viaProxy = new URL(db.url);
    viaProxy.hostname = proxy.host;
    viaProxy.port = String(proxy.port);
    governor = await createGovernor(
      loadGovernorConfig({
        DATABASE_URL: viaProxy.toString(),
        PORT: '0',
        PAYBOUND_ADMIN_TOKEN: ROOT,
        PAYBOUND_WORKER_TOKEN: WORKER,
        PAYBOUND_SIGN_WAIT_MS: '0',
        PAYBOUND_FETCH_TIMEOUT_MS: '1000',
        PAYBOUND_DB_CONNECT_TIMEOUT_MS: '1000',
        PAYBOUND_WEBHOOK_MAX_ATTEMPTS: '1',
        PAYBOUND_ASSETS: JSON.stringify([{ network: 'eip155:31337', address: FIXTURE_TOKEN, decimals: 6, symbol: 'TUSD' }]),
      }),
      createLogger('test', 'silent'),
    );
    base = governor.url;
    fixture = await seedOrgFixture(base, ROOT, 'fz', db.pool);
    amountFixture = await seedOrgFixture(base, ROOT, 'fz-amount', db.pool);
    ({ routes, resolve } = await documentedRoutes(base));
  });

  afterAll(async () => {
    proxy?.restore();
    await governor?.close();
    await proxy?.close();
    await db?.drop();
  });

  async function runCases(cases: FuzzCase[], options: { outage: boolean; checkState: boolean; deadline: number }) {
    const failures: string[] = [];
    const statuses = new Map<number, number>();
    const routesHit = new Set<string>();
    let ran = 0;
    let fiveHundreds = 0;
    let unexpectedSuccesses = 0;
    let passedThrough = 0;
    let upstreamRefusals = 0;
    for (const c of cases) {
      if (Date.now() > options.deadline) break;
      const before = options.checkState ? await stateFingerprint(db.pool) : undefined;
      let answer: RawAnswer;
      try {
        answer = await rawRequest(base, c.request);
      } catch (error) {
        failures.push(`${c.name}: no answer (${(error as Error).message})`);
        ran += 1;
        continue;
      }
      const changed = before === undefined || answer.status < 400 ? undefined : changedState(before, await stateFingerprint(db.pool));
      const verdict = judge(c, answer, changed, options.outage);
      ran += 1;
      if (c.route !== undefined) routesHit.add(`${c.route.method} ${c.route.template}`);
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
      if (verdict.fiveHundreds) fiveHundreds += 1;
      if (verdict.unexpectedSuccess) unexpectedSuccesses += 1;
      if (verdict.upstreamRefusal) upstreamRefusals += 1;
      if (!c.mustRefuse && answer.status < 400) passedThrough += 1;
      for (const problem of verdict.problems) failures.push(`${c.name}: ${problem}`);
    }
    return { ran, failures, statuses, routesHit, fiveHundreds, unexpectedSuccesses, passedThrough, upstreamRefusals };
  }

  function report(label: string, result: Awaited<ReturnType<typeof runCases>>, planned: number) {
    const statuses = [...result.statuses].sort(([a], [b]) => a - b).map(([s, n]) => `${s}×${n}`).join(' ');
    console.log(
      `[fuzz] ${label}: ${result.ran} of ${planned} cases (seed ${SEED}), ${result.routesHit.size} routes; 5xx ${result.fiveHundreds} (besides ${result.upstreamRefusals} documented 502 bad_payment_offer); unexpected successes ${result.unexpectedSuccesses}; well-formed passes ${result.passedThrough}; statuses ${statuses}`,
    );
    if (result.failures.length > 0) console.log(`[fuzz] ${label}: ${result.failures.length} failures, the first 40:\n  ${result.failures.slice(0, 40).join('\n  ')}`);
  }

  it(
    'answers the corpus and the random cases without a 5xx, with catalogue codes and fields, refusing what it must and changing nothing it refused',
    async () => {
      const started = Date.now();
const draws = sampleDraws(SEED, RUNS);
      const cases = [...corpus(routes, fixture, resolve), ...draws.map((draw) => generatedCase(draw, routes, fixture, resolve))];
      const result = await runCases(cases, { outage: false, checkState: true, deadline: started + TIME_LIMIT_MS });
      report('corpus + random', result, cases.length);
      // Every documented route was called at least once.
      const missed = routes.map((r) => `${r.method} ${r.template}`).filter((r) => !result.routesHit.has(r));
      expect(missed).toEqual([]);
      expect(result.failures).toEqual([]);
      expect(result.ran).toBeGreaterThan(100);
    },
    TIME_LIMIT_MS === Number.POSITIVE_INFINITY ? 3_600_000 : TIME_LIMIT_MS + 120_000,
  );

  it('leaves innocent traffic alone: an agent of the same org and one of another org pay throughout', async () => {
    const bystanderKey = (
      await ok('bystander', call<{ apiKey: string }>(base, 'POST', `/admin/v1/orgs/${fixture.orgId}/agents`, { key: ROOT, body: { id: 'bystander', name: 'bystander', teamId: fixture.teamId } }), 201)
    ).apiKey;
    const otherOrgKey = await seedAgent(base, ROOT, { orgId: 'fz-innocent', teamId: 'team', agentId: 'agent' }, { org: '1000.00' });
    const hostile = [...corpus(routes, fixture, resolve), ...sampleDraws(SEED + 2, Math.min(RUNS, 200)).map((draw) => generatedCase(draw, routes, fixture, resolve))];
    let hostileDone = false;
    const innocent = async (who: string, key: string) => {
      const failures: string[] = [];
      let payments = 0;
      while (!hostileDone || payments === 0) {
        const session = await call<{ id: string }>(base, 'POST', '/v1/sessions', { key, body: { limit: '1.00' } });
        if (session.status !== 201) {
          failures.push(`${who}: open session ${session.status} ${JSON.stringify(session.body)}`);
          if (failures.length > 20) break;
          continue;
        }
        const offer = paymentRequiredHeader({ amount: '1000', asset: FIXTURE_TOKEN, payTo: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8' });
        const payment = await call<{ id: string }>(base, 'POST', `/v1/sessions/${session.body.id}/payments`, { key, body: { paymentRequired: offer, url: 'http://api.example.com/data' } });
        if (payment.status !== 202) failures.push(`${who}: pay ${payment.status} ${JSON.stringify(payment.body)}`);
        const read = await call<{ id: string }>(base, 'GET', `/v1/payments/${payment.body.id}`, { key });
        if (read.status !== 200) failures.push(`${who}: read ${read.status} ${JSON.stringify(read.body)}`);
        payments += 1;
      }
      return { failures, payments };
    };
    const bystander = innocent('same org', bystanderKey);
    const otherOrg = innocent('other org', otherOrgKey);
    let result;
    try {
      result = await runCases(hostile, { outage: false, checkState: false, deadline: Date.now() + TIME_LIMIT_MS });
    } finally {
      hostileDone = true;
    }
    const [same, other] = await Promise.all([bystander, otherOrg]);
    report('beside innocent traffic', result, hostile.length);
    console.log(`[fuzz] innocent traffic: same org ${same.payments} payments, ${same.failures.length} failures; other org ${other.payments} payments, ${other.failures.length} failures`);
    expect(result.failures).toEqual([]);
    expect([...same.failures, ...other.failures]).toEqual([]);
    expect(same.payments).toBeGreaterThan(5);
    expect(other.payments).toBeGreaterThan(5);
  }, TIME_LIMIT_MS === Number.POSITIVE_INFINITY ? 3_600_000 : TIME_LIMIT_MS + 120_000);

  it('refuses an offer of 10^30 atomic units and still answers for that org and every other', async () => {
    const result = await runCases(hugeAmountCases(routes, amountFixture, resolve), { outage: false, checkState: false, deadline: Number.POSITIVE_INFINITY });
    report('10^30 offer', result, 1);
    expect(result.failures).toEqual([]);
    // Reads of that org and of another still answer, and the read models still catch up.
    for (const [f, key] of [[amountFixture, amountFixture.agentKey], [fixture, fixture.agentKey]] as const) {
      const read = await rawRequest(base, { method: 'GET', target: `/v1/sessions/${f.sessionId}`, headers: [['Authorization', `Bearer ${key}`]] });
      expect(read.status, `${f.orgId}: ${read.body.toString('utf8').slice(0, 200)}`).toBe(200);
    }
    const approvals = await rawRequest(base, { method: 'GET', target: '/admin/v1/approvals', headers: [['Authorization', `Bearer ${ROOT}`]] });
    expect(approvals.status, approvals.body.toString('utf8').slice(0, 200)).toBe(200);
  });

  it('while the database is cut: every answer is a 4xx or 503 with Retry-After, never another 5xx', async () => {
    const draws = fc.sample(fc.record({ route: fc.nat(), pick: fc.nat(1_000_000) }), { seed: SEED + 1, numRuns: OUTAGE_RUNS });
    const cases: FuzzCase[] = draws.map((draw) => {
      const route = routes[draw.route % routes.length]!;
      return { name: `outage ${route.method} ${route.template}`, route, request: wellFormed(route, fixture, resolve), mustRefuse: false };
    });
    proxy.cut();
    let result;
    try {
      result = await runCases(cases, { outage: true, checkState: false, deadline: Number.POSITIVE_INFINITY });
    } finally {
      proxy.restore();
    }
    report('database cut', result, cases.length);
    expect(result.failures).toEqual([]);
    expect(result.statuses.get(503) ?? 0).toBeGreaterThan(0);
  });
});
