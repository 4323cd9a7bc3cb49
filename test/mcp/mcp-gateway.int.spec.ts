import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { x402Client } from '@x402/core/client';
import type { PaymentRequired } from '@x402/core/types';
import { registerExactEvmScheme } from '@x402/evm/exact/client';
import { getAddress, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rpcEnvName } from '../../apps/settlement-worker/config.js';
import { startX402Kit, type X402Kit } from '../../libs/devnet/index.js';
import { MCP_FAILING_TOOL, MCP_PAID_TOOL, startMcpSeller, type McpSellerHandle } from '../../libs/devnet/mcp-seller.js';
import { deriveNonce } from '../../libs/x402/eip3009.js';
import { call, seedAgent } from '../support/api-client.js';
import { connectAgentClient, type GrpcAgentClient } from '../support/grpc-agent-client.js';
import { freshDatabase, type TestDatabase } from '../support/database.js';
import { spawnGovernor, type GovernorProcess } from '../support/governor-process.js';
import { until } from '../support/until.js';
import { spawnWorker, workerDecidesVia, type WorkerProcess } from '../support/worker-process.js';

// Paybound as the gateway between an agent and paid third-party MCP servers, with real
// peers only: the official MCP SDK client talking to Paybound's MCP server (stdio), the
// governor and the settlement worker as processes, and the devnet's paid MCP server built
// on the official MCP SDK server and x402ResourceServer, settling on anvil.

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const MCP_SERVER = resolve(repoRoot, 'dist/apps/mcp-server/main.js');
const ADMIN = 'test-admin-token-mcp-gateway';
const KEYSTORE_PASSWORD = 'paybound-test-keystore-passphrase';
const PRICE_ATOMIC = 20_000n;
const DENIED_PAYEE = getAddress('0x000000000000000000000000000000000000dEaD');
/** Alternating paid calls through the gateway and paid directly; 20 or more for a report. */
const LATENCY_SAMPLES = Number(process.env.PAYBOUND_MCP_LATENCY_SAMPLES ?? '3');
const GRPC_PORT = 41_000 + Math.floor(Math.random() * 4_000);

type ToolAnswer = { isError?: boolean; structuredContent?: Record<string, unknown>; content?: Array<{ type: string; text?: string }>; _meta?: Record<string, unknown> };

describe('the MCP gateway: paid third-party MCP tools under a Paybound session', () => {
  let kit: X402Kit;
  let db: TestDatabase;
  let governor: GovernorProcess;
  let worker: WorkerProcess;
  let seller: McpSellerHandle;
  let legacySeller: McpSellerHandle;
  let hostile: { url: string; close: () => Promise<void> };
  let discovery: { url: string; close: () => Promise<void> };
  let keystoreDir: string;
  let agentKey: string;
  let otherKey: string;
  let adminKey: string;
  const clients: Client[] = [];
  let agent: Client;
  let stderr = '';

  const api = <T = Record<string, unknown>>(method: string, path: string, options: { key?: string; body?: unknown; headers?: Record<string, string> } = {}) =>
    call<T>(governor.url, method, path, { key: agentKey, ...options });
  const callTool = async (client: Client, name: string, args: Record<string, unknown> = {}): Promise<ToolAnswer> => (await client.callTool({ name, arguments: args }, undefined, { timeout: 60_000 }));

  /** The way an MCP host runs Paybound's server: the built server as a child process on stdio. */
  async function mcpAgent(key: string, sessionLimit: string): Promise<Client> {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [MCP_SERVER],
      env: { PATH: process.env.PATH ?? '', PAYBOUND_URL: governor.url, PAYBOUND_API_KEY: key, PAYBOUND_SESSION_LIMIT: sessionLimit },
      stderr: 'pipe',
    });
    transport.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-20_000)));
    const client = new Client({ name: 'paybound-gateway-test-host', version: '1.0.0' });
    await client.connect(transport);
    clients.push(client);
    return client;
  }

  async function sessionOf(client: Client): Promise<string> {
    return (await callTool(client, 'session_balance')).structuredContent?.['sessionId'] as string;
  }

  async function settledPayment(paymentId: string): Promise<{ status: string; transaction: string | null; amount: string }> {
    return until(`payment ${paymentId} settled`, async () => {
      const payment = await api<{ status: string; transaction: string | null; amount: string }>('GET', `/v1/payments/${paymentId}`);
      return payment.body.status === 'settled' ? payment.body : undefined;
    });
  }

  async function eventCount(type: string, where: string, value: string): Promise<number> {
    const rows = await db.pool.query<{ n: string }>(`SELECT count(*) AS n FROM events WHERE type = $1 AND data->>'${where}' LIKE $2`, [type, value]);
    return Number(rows.rows[0]?.n ?? 0);
  }

  const register = (body: Record<string, unknown>, key = adminKey) => call<Record<string, unknown>>(governor.url, 'POST', '/admin/v1/mcp-servers', { key, body });

  beforeAll(async () => {
    kit = await startX402Kit();
    seller = await startMcpSeller({ facilitatorUrl: kit.facilitator.url, token: kit.token, payTo: kit.seller.payTo });
    legacySeller = await startMcpSeller({ facilitatorUrl: kit.facilitator.url, token: kit.token, payTo: kit.seller.payTo, signaling: 'jsonrpc_error', jsonResponse: true });
    hostile = await startHostileMcpServer(kit);
    discovery = await startDiscoveryList(kit);
    db = await freshDatabase('mcp_gateway');
    keystoreDir = await mkdtemp(join(tmpdir(), 'paybound-keystore-'));
    const keystoreFile = join(keystoreDir, 'worker.json');
    await promisify(execFile)(process.execPath, [resolve(repoRoot, 'dist/apps/settlement-worker/keystore-cli.js'), 'create', keystoreFile], {
      env: { PATH: process.env.PATH ?? '', PAYBOUND_KEYSTORE_PASSWORD: KEYSTORE_PASSWORD, PAYBOUND_IMPORT_PRIVATE_KEY: kit.payer.privateKey },
    });
    governor = await spawnGovernor({
      DATABASE_URL: db.url,
      PAYBOUND_ADMIN_TOKEN: ADMIN,
      PAYBOUND_ASSETS: JSON.stringify([{ network: kit.network, address: kit.token, decimals: 6, symbol: 'TUSD' }]),
      GRPC_PORT: String(GRPC_PORT),
      PAYBOUND_DISCOVERY_URLS: discovery.url,
      PAYBOUND_DISCOVERY_INTERVAL_MS: '1000',
    });
    worker = await spawnWorker({
      ...workerDecidesVia(governor),
      DATABASE_URL: db.url,
      PAYBOUND_KEYSTORE_FILE: keystoreFile,
      PAYBOUND_KEYSTORE_PASSWORD: KEYSTORE_PASSWORD,
      [rpcEnvName(kit.network)]: kit.rpcUrl,
    });
    agentKey = await seedAgent(governor.url, ADMIN, { orgId: 'org-mcp', agentId: 'agent-mcp' }, { org: '100.00' });
    otherKey = await seedAgent(governor.url, ADMIN, { orgId: 'org-other', agentId: 'agent-other' }, { org: '100.00' });
    adminKey = (await call<{ apiKey: string }>(governor.url, 'POST', '/admin/v1/admin-keys', { key: ADMIN, body: { name: 'alice', scope: 'root' } })).body.apiKey;
    // A payee no one in org-mcp may pay: the hostile server names it.
    const policy = await call(governor.url, 'PUT', '/admin/v1/orgs/org-mcp/policy', { key: ADMIN, body: { deniedPayees: [DENIED_PAYEE] }, headers: { 'If-Match': '*' } });
    expect(policy.status, JSON.stringify(policy.body)).toBe(200);

    for (const [name, url, orgIds] of [
      ['quotes', seller.url, ['org-mcp']],
      ['legacy', legacySeller.url, ['org-mcp']],
      ['hostile', hostile.url, ['org-mcp']],
      ['secret', seller.url, ['org-other']],
    ] as const) {
      const registered = await register({ name, url, orgIds });
      expect(registered.status, JSON.stringify(registered.body)).toBe(201);
    }
    agent = await mcpAgent(agentKey, '1.00');
  });

  afterAll(async () => {
    for (const client of clients) await client.close().catch(() => undefined);
    await worker?.stop();
    await governor?.stop();
    await db?.drop();
    await hostile?.close();
    await discovery?.close();
    await legacySeller?.close();
    await seller?.close();
    await kit?.stop();
    if (keystoreDir !== undefined) await rm(keystoreDir, { recursive: true, force: true });
  });

  describe('upstream servers, registered by admins', () => {
    it('records each registration as an event with the admin as actor, and refuses bad or repeated ones with the field', async () => {
      const audit = await call<{ items: Array<{ type: string; actor: string; data: Record<string, unknown> }> }>(governor.url, 'GET', '/admin/v1/audit?type=McpServerRegistered', { key: ADMIN });
      expect(audit.body.items.map((e) => [e.data['name'], e.actor])).toEqual([
        ['quotes', 'admin:alice'],
        ['legacy', 'admin:alice'],
        ['hostile', 'admin:alice'],
        ['secret', 'admin:alice'],
      ]);
      expect(audit.body.items[0]?.data).toMatchObject({ url: seller.url, orgIds: ['org-mcp'], tools: null, enabled: true });

      const repeated = await register({ name: 'quotes', url: seller.url, orgIds: ['org-mcp'] });
      expect(repeated.status).toBe(409);
      expect(repeated.body).toMatchObject({ code: 'mcp_server_already_registered' });
      const badUrl = await register({ name: 'bad', url: 'ftp://127.0.0.1/mcp', orgIds: ['org-mcp'] });
      expect(badUrl.status).toBe(400);
      expect(badUrl.body).toMatchObject({ code: 'invalid_request', field: 'url' });
      const badName = await register({ name: 'Bad__Name', url: seller.url, orgIds: ['org-mcp'] });
      expect(badName.body).toMatchObject({ code: 'invalid_request', field: 'name' });
      const byAgent = await register({ name: 'sneaky', url: seller.url, orgIds: ['org-mcp'] }, agentKey);
      expect(byAgent.status).toBe(403);

      // A change is an event with before and after; a change that changes nothing is none.
      const changed = await call(governor.url, 'PATCH', '/admin/v1/mcp-servers/secret', { key: adminKey, body: { description: 'for org-other only' } });
      expect(changed.body).toMatchObject({ name: 'secret', description: 'for org-other only', version: 2 });
      await call(governor.url, 'PATCH', '/admin/v1/mcp-servers/secret', { key: adminKey, body: { description: 'for org-other only' } });
      const changes = await call<{ items: Array<{ data: Record<string, unknown>; actor: string }> }>(governor.url, 'GET', '/admin/v1/audit?type=McpServerChanged', { key: ADMIN });
      expect(changes.body.items).toHaveLength(1);
      expect(changes.body.items[0]).toMatchObject({ actor: 'admin:alice', data: { before: { description: null }, after: { description: 'for org-other only' } } });
    });
  });

  describe('listing', () => {
    it('lists Paybound\'s tools beside every tool of the upstreams the org may use, namespaced by server', async () => {
      const { tools } = await agent.listTools();
      const names = tools.map((t) => t.name).sort();
      expect(names).toEqual(
        [
          'close_session', 'paid_fetch', 'search_catalog', 'session_balance',
          'quotes__echo', 'quotes__premium_quote', 'quotes__flaky_report',
          'legacy__echo', 'legacy__premium_quote', 'legacy__flaky_report',
          'hostile__offer_oversized', 'hostile__offer_unknown_scheme', 'hostile__offer_unpayable_network', 'hostile__offer_denied_payee',
        ].sort(),
      );
      expect(tools.find((t) => t.name === 'quotes__premium_quote')?.inputSchema).toMatchObject({ type: 'object', required: ['ticker'] });
      // The other org sees its own server only.
      const other = await call<{ tools: Array<{ name: string }> }>(governor.url, 'GET', '/v1/mcp/tools', { key: otherKey });
      expect(other.body.tools.map((t) => t.name).sort()).toEqual(['secret__echo', 'secret__flaky_report', 'secret__premium_quote']);
    });

    it('does not call an upstream the org may not use, and says nothing of its existence', async () => {
      const before = seller.stats();
      const refused = await callTool(agent, 'secret__premium_quote', { ticker: 'ACME' });
      expect(refused.isError).toBe(true);
      expect(refused.structuredContent).toMatchObject({ code: 'mcp_server_not_found' });
      const unknown = await callTool(agent, 'nowhere__premium_quote', { ticker: 'ACME' });
      expect(unknown.structuredContent?.['code']).toBe('mcp_server_not_found');
      expect(unknown.structuredContent?.['detail']).toBe((refused.structuredContent?.['detail'] as string).replace('secret', 'nowhere'));
      expect(seller.stats()).toEqual(before);
    });
  });

  describe('paying', () => {
    it.each([
      ['the isError tool result', 'quotes__premium_quote', () => seller],
      ['the JSON-RPC error 402', 'legacy__premium_quote', () => legacySeller],
    ] as const)('pays a paid tool signalled with %s: result returned, payer down exactly 20000 on chain, settlement recorded with its transaction', async (_form, tool, upstream) => {
      const sessionId = await sessionOf(agent);
      const spentBefore = (await api<{ spent: string }>('GET', `/v1/sessions/${sessionId}`)).body.spent;
      const payerBefore = await kit.balanceOf(kit.payer.address);
      const payeeBefore = await kit.balanceOf(kit.seller.payTo);
      const stats = upstream().stats();

      const answer = await callTool(agent, tool, { ticker: 'ACME' });
      expect(answer.isError, JSON.stringify(answer) + stderr).toBe(false);
      expect(answer.structuredContent).toEqual({ ticker: 'ACME', priceUsd: '187.42', source: 'devnet' });
      const payment = answer._meta?.['paybound/payment'] as { id: string; amount: string; status: string; transaction: string | null };
      expect(payment).toMatchObject({ amount: '0.02' });
      const settlement = answer._meta?.['x402/payment-response'] as { success: boolean; transaction: string };
      expect(settlement.success).toBe(true);

      expect(await kit.balanceOf(kit.payer.address)).toBe(payerBefore - PRICE_ATOMIC);
      expect(await kit.balanceOf(kit.seller.payTo)).toBe(payeeBefore + PRICE_ATOMIC);
      expect(upstream().stats()).toMatchObject({ paidCalls: stats.paidCalls + 1, settled: stats.settled + 1 });
      const settled = await settledPayment(payment.id);
      expect(settled).toMatchObject({ status: 'settled', amount: '0.02', transaction: settlement.transaction });
      const receipt = await kit.publicClient.getTransactionReceipt({ hash: settlement.transaction as Hex });
      expect(receipt.status).toBe('success');
      const session = await api<{ spent: string; reserved: string }>('GET', `/v1/sessions/${sessionId}`);
      expect(Number(session.body.spent) - Number(spentBefore)).toBeCloseTo(0.02, 6);
      expect(session.body.reserved).toBe('0.00');
      const reserved = await db.pool.query<{ data: Record<string, unknown> }>(`SELECT data FROM events WHERE type = 'Reserved' AND data->>'intentId' = $1`, [payment.id]);
      expect(reserved.rows[0]?.data).toMatchObject({ method: 'MCP', resource: `${upstream().url}#premium_quote` });
    });

    it('refuses the third call of a 0.05 session as a tool error session_limit_exceeded with the figures, after exactly two paid', async () => {
      const small = await mcpAgent(agentKey, '0.05');
      const sessionId = await sessionOf(small);
      const payerBefore = await kit.balanceOf(kit.payer.address);
      const answers: ToolAnswer[] = [];
      for (const ticker of ['A', 'B', 'C', 'D']) answers.push(await callTool(small, 'quotes__premium_quote', { ticker }));
      expect(answers.map((a) => a.isError)).toEqual([false, false, true, true]);
      expect(answers[2]?.structuredContent).toMatchObject({ code: 'session_limit_exceeded', level: 'session', limit: '0.05', requested: '0.02', remaining: '0.01' });
      expect(answers[2]?.structuredContent?.['paymentId']).toMatch(/^pay_/);
      expect(await kit.balanceOf(kit.payer.address)).toBe(payerBefore - 2n * PRICE_ATOMIC);
      const balance = await until('both settled', async () => {
        const session = await api<{ spent: string; reserved: string }>('GET', `/v1/sessions/${sessionId}`);
        return session.body.spent === '0.04' ? session.body : undefined;
      });
      expect(balance).toMatchObject({ spent: '0.04', reserved: '0.00', remaining: '0.01' });
      expect(await eventCount('LimitExceeded', 'sessionId', sessionId)).toBe(2);
    });

    it('stops a loop of the same tool with the same arguments at the loop guard\'s N, and lets other arguments through', async () => {
      const loopKey = await seedAgent(governor.url, ADMIN, { orgId: 'org-loop', agentId: 'agent-loop' }, { org: '10.00' });
      expect((await register({ name: 'loopquotes', url: seller.url, orgIds: ['org-loop'] })).status).toBe(201);
      const policy = await call(governor.url, 'PUT', '/admin/v1/orgs/org-loop/agents/agent-loop/policy', { key: ADMIN, body: { loopGuard: { maxPayments: 2, windowSeconds: 600 } }, headers: { 'If-Match': '*' } });
      expect(policy.status).toBe(200);
      const session = await call<{ id: string }>(governor.url, 'POST', '/v1/sessions', { key: loopKey, body: { limit: '1.00' } });
      const viaRest = (args: Record<string, unknown>) =>
        call<Record<string, unknown>>(governor.url, 'POST', `/v1/sessions/${session.body.id}/mcp/call`, { key: loopKey, body: { server: 'loopquotes', tool: MCP_PAID_TOOL, arguments: args } });
      const same = [await viaRest({ ticker: 'LOOP' }), await viaRest({ ticker: 'LOOP' }), await viaRest({ ticker: 'LOOP' })];
      expect(same.map((a) => a.status)).toEqual([200, 200, 403]);
      expect(same[2]?.body).toMatchObject({ code: 'loop_detected', level: 'policy' });
      // The same tool with other arguments is another request; key order does not make a new one.
      const other = await viaRest({ ticker: 'OTHER' });
      expect(other.status).toBe(200);
      expect(other.body).toMatchObject({ server: 'loopquotes', tool: MCP_PAID_TOOL, result: { isError: false }, payment: { amount: '0.02' } });
    });

    it('refuses hostile upstreams before anything is reserved: oversized requirements, unknown scheme, unpayable network, denied payee', async () => {
      const reservedBefore = await eventCount('Reserved', 'resource', `${hostile.url}%`);
      const payerBefore = await kit.balanceOf(kit.payer.address);
      const codes: Record<string, unknown> = {};
      for (const tool of ['offer_oversized', 'offer_unknown_scheme', 'offer_unpayable_network', 'offer_denied_payee']) {
        const answer = await callTool(agent, `hostile__${tool}`);
        expect(answer.isError).toBe(true);
        codes[tool] = answer.structuredContent?.['code'];
      }
      expect(codes).toEqual({ offer_oversized: 'bad_payment_offer', offer_unknown_scheme: 'bad_payment_offer', offer_unpayable_network: 'bad_payment_offer', offer_denied_payee: 'payee_not_allowed' });
      expect(await eventCount('Reserved', 'resource', `${hostile.url}%`)).toBe(reservedBefore);
      // The payee refusal is a decision, recorded; the unpayable offers never reach one.
      expect(await eventCount('LimitExceeded', 'resource', `${hostile.url}#offer_denied_payee`)).toBe(1);
      expect(await kit.balanceOf(kit.payer.address)).toBe(payerBefore);
    });
  });

  it('finds paid MCP tools in the catalog by price: from a facilitator\'s discovery list, and the registered upstream\'s tool once paid', async () => {
    type Item = { resource: string; price: string; priceAtomic: string; tags: string[] };
    const search = async (query: string) => (await api<{ items: Item[] }>('GET', `/v1/catalog?${query}`)).body.items;
    const found = await until('the MCP discovery sync', async () => {
      const items = await search('q=mcp&maxPrice=0.05');
      return items.length >= 2 ? items : undefined;
    });
    expect(found.map((i) => [i.resource, i.price])).toEqual(
      expect.arrayContaining([
        ['https://tools.example/mcp#weather_forecast', '0.03'],
        [`${seller.url}#premium_quote`, '0.02'],
      ]),
    );
    expect(found.find((i) => i.resource === 'https://tools.example/mcp#weather_forecast')?.tags).toEqual(['mcp', 'weather_forecast']);
    expect((await search('q=mcp&maxPrice=0.025')).map((i) => i.resource)).not.toContain('https://tools.example/mcp#weather_forecast');
    // The gateway's listing carries the price the catalog knows.
    const listed = await call<{ tools: Array<{ name: string; price: string | null }> }>(governor.url, 'GET', '/v1/mcp/tools', { key: agentKey });
    expect(listed.body.tools.find((t) => t.name === 'quotes__premium_quote')?.price).toBe('0.02');
    expect(listed.body.tools.find((t) => t.name === 'quotes__echo')?.price).toBeNull();
  });

  describe('over gRPC, for runtimes without MCP', () => {
    let grpc: GrpcAgentClient;
    beforeAll(() => {
      grpc = connectAgentClient(GRPC_PORT, () => agentKey);
    });
    afterAll(() => grpc?.close());

    it('lists the tools and pays a tool call with CallMcpTool; a refusal is PERMISSION_DENIED with the code', async () => {
      const listed = await grpc.unary<{ tools: Array<{ name: string; inputSchemaJson: string }> }>('listMcpTools', {});
      expect(listed.tools.map((t) => t.name)).toContain('quotes__premium_quote');
      expect(JSON.parse(listed.tools.find((t) => t.name === 'quotes__premium_quote')!.inputSchemaJson)).toMatchObject({ type: 'object' });
      const sessionId = await sessionOf(agent);
      const payerBefore = await kit.balanceOf(kit.payer.address);
      const paid = await grpc.unary<{ resultJson: string; payment: { id: string; amount: string; status: string } }>('callMcpTool', {
        sessionId,
        server: 'quotes',
        tool: MCP_PAID_TOOL,
        argumentsJson: JSON.stringify({ ticker: 'GRPC' }),
      });
      expect(JSON.parse(paid.resultJson)).toMatchObject({ isError: false, structuredContent: { ticker: 'GRPC' } });
      expect(paid.payment).toMatchObject({ amount: '0.02' });
      expect(await kit.balanceOf(kit.payer.address)).toBe(payerBefore - PRICE_ATOMIC);
      const refused = await grpc.unary('callMcpTool', { sessionId, server: 'quotes', tool: MCP_PAID_TOOL, argumentsJson: '{"ticker":"CHEAP"}', maxPrice: '0.001' }).then(
        () => undefined,
        (error: { code: number; metadata: { get: (key: string) => unknown[] } }) => error,
      );
      expect(refused?.code).toBe(7);
      expect(refused?.metadata.get('paybound-code')).toEqual(['price_above_max']);
    });
  });

  it(`measures one paid tool call through the gateway against the same call paid directly by an x402 client (${LATENCY_SAMPLES} each, alternating)`, async () => {
    const direct = new Client({ name: 'direct-agent', version: '1.0.0' });
    await direct.connect(new StreamableHTTPClientTransport(new URL(seller.url)));
    clients.push(direct);
    const payer = new x402Client();
    registerExactEvmScheme(payer, { signer: privateKeyToAccount(kit.payer.privateKey) });
    payer.setSpendControls({ allowedAssets: [{ network: kit.network, asset: kit.token }] });
    const gatewayMs: number[] = [];
    const directMs: number[] = [];
    for (let i = 0; i < LATENCY_SAMPLES; i++) {
      let started = performance.now();
      const viaGateway = await callTool(agent, 'quotes__premium_quote', { ticker: `G${i}` });
      gatewayMs.push(performance.now() - started);
      expect(viaGateway.isError, JSON.stringify(viaGateway)).toBe(false);

      started = performance.now();
      const unpaid = (await direct.callTool({ name: MCP_PAID_TOOL, arguments: { ticker: `D${i}` } })) as ToolAnswer;
      const paymentPayload = await payer.createPaymentPayload(unpaid.structuredContent as unknown as PaymentRequired);
      const paid = (await direct.callTool({ name: MCP_PAID_TOOL, arguments: { ticker: `D${i}` }, _meta: { 'x402/payment': paymentPayload } })) as ToolAnswer;
      directMs.push(performance.now() - started);
      expect(paid.isError).toBeFalsy();
    }
    const p50 = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)]!;
    console.log(
      `[mcp latency] paid tool call through the gateway (MCP client → Paybound MCP server → governor → upstream): p50 ${p50(gatewayMs).toFixed(1)} ms ` +
        `(min ${Math.min(...gatewayMs).toFixed(1)}, max ${Math.max(...gatewayMs).toFixed(1)}); paid directly by @x402/core: p50 ${p50(directMs).toFixed(1)} ms ` +
        `(min ${Math.min(...directMs).toFixed(1)}, max ${Math.max(...directMs).toFixed(1)}); ${LATENCY_SAMPLES} each, alternating`,
    );
    expect(gatewayMs).toHaveLength(LATENCY_SAMPLES);
  });

  // Last: it moves the chain's clock ahead of the wall clock.
  it('a tool that fails after payment: nothing spent once the chain shows the authorization unused after validBefore, and never a second authorization', async () => {
    const sessionId = await sessionOf(agent);
    // The earlier calls' settlements are recorded first, so that only this payment moves the figures.
    const spentBefore = await until('earlier payments settled', async () => {
      const session = await api<{ spent: string; reserved: string }>('GET', `/v1/sessions/${sessionId}`);
      return session.body.reserved === '0.00' ? session.body.spent : undefined;
    });
    const payerBefore = await kit.balanceOf(kit.payer.address);
    const stats = seller.stats();
    const failed = await callTool(agent, `quotes__${MCP_FAILING_TOOL}`, { ticker: 'ACME' });
    expect(failed.isError).toBe(true);
    expect(failed.content?.[0]?.text).toContain('you were not charged');
    const payment = failed._meta?.['paybound/payment'] as { id: string; amount: string };
    expect(payment.amount).toBe('0.02');
    expect(seller.stats()).toMatchObject({ paidCalls: stats.paidCalls + 1, verified: stats.verified + 1, settled: stats.settled, failedAfterVerify: stats.failedAfterVerify + 1 });
    // Held while the authorization could still execute.
    const held = await api<{ status: string; validBefore: string }>('GET', `/v1/payments/${payment.id}`);
    expect(['signed', 'unknown']).toContain(held.body.status);
    expect((await api<{ reserved: string }>('GET', `/v1/sessions/${sessionId}`)).body.reserved).toBe('0.02');

    const latest = await kit.publicClient.getBlock({ blockTag: 'latest' });
    const jumpSec = Math.max(1, Math.floor(Date.parse(held.body.validBefore) / 1000) - Number(latest.timestamp) + 1);
    await kit.publicClient.request({ method: 'evm_increaseTime' as never, params: [jumpSec] as never });
    await kit.publicClient.request({ method: 'evm_mine' as never, params: [] as never });
    const released = await until('released', async () => {
      const current = await api<{ status: string; transaction: string | null }>('GET', `/v1/payments/${payment.id}`);
      return current.body.status === 'refunded' ? current.body : undefined;
    }, 30_000);
    expect(released.transaction).toBeNull();
    expect(await kit.authorizationState(kit.payer.address, deriveNonce(kit.payer.address, payment.id))).toBe(false);
    expect(await kit.balanceOf(kit.payer.address)).toBe(payerBefore);
    expect(await eventCount('PaymentSigned', 'intentId', payment.id)).toBe(1);
    expect(seller.stats().paidCalls).toBe(stats.paidCalls + 1);
    expect((await api<{ spent: string; reserved: string }>('GET', `/v1/sessions/${sessionId}`)).body).toMatchObject({ spent: spentBefore, reserved: '0.00' });
  });
});

/**
 * An MCP server (plain JSON over HTTP) whose paid tools make offers no one should pay:
 * seventeen requirements, a scheme no signer knows, a network this deployment has no RPC
 * for, and a payee org-mcp's policy denies.
 */
async function startHostileMcpServer(kit: X402Kit): Promise<{ url: string; close: () => Promise<void> }> {
  const requirement = { scheme: 'exact', network: kit.network, amount: '20000', asset: getAddress(kit.token), payTo: getAddress(kit.seller.payTo), maxTimeoutSeconds: 60, extra: { name: 'Test USD', version: '1' } };
  const offer = (accepts: unknown[]) => ({ x402Version: 2, error: 'Payment required', resource: { url: 'mcp://tool/x' }, accepts });
  const paymentResult = (document: unknown) => ({ isError: true, structuredContent: document, content: [{ type: 'text', text: JSON.stringify(document) }] });
  const offers: Record<string, unknown> = {
    offer_oversized: paymentResult(offer(Array.from({ length: 17 }, () => requirement))),
    offer_unknown_scheme: paymentResult(offer([{ ...requirement, scheme: 'teleport' }])),
    offer_unpayable_network: paymentResult(offer([{ ...requirement, network: 'eip155:1' }])),
    offer_denied_payee: paymentResult(offer([{ ...requirement, payTo: DENIED_PAYEE }])),
  };
  const answer = (res: ServerResponse, id: unknown, result: unknown) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id, result }));
  const server: HttpServer = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'POST') return void res.writeHead(405).end();
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      const message = JSON.parse(body) as { id?: unknown; method: string; params?: Record<string, unknown> };
      if (message.id === undefined) return void res.writeHead(202).end();
      if (message.method === 'initialize') return answer(res, message.id, { protocolVersion: message.params?.['protocolVersion'], capabilities: { tools: {} }, serverInfo: { name: 'hostile', version: '0' } });
      if (message.method === 'tools/list') return answer(res, message.id, { tools: Object.keys(offers).map((name) => ({ name, inputSchema: { type: 'object' } })) });
      if (message.method === 'tools/call') return answer(res, message.id, offers[String(message.params?.['name'])] ?? { content: [] });
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: message.id, error: { code: -32601, message: 'no' } }));
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
}

/** A facilitator's discovery list with one paid MCP tool (bazaar MCP declaration) and no HTTP endpoints. */
async function startDiscoveryList(kit: X402Kit): Promise<{ url: string; close: () => Promise<void> }> {
  const item = {
    resource: 'https://tools.example/mcp',
    type: 'mcp',
    x402Version: 2,
    accepts: [{ scheme: 'exact', network: kit.network, amount: '30000', asset: getAddress(kit.token), payTo: getAddress(kit.seller.payTo), maxTimeoutSeconds: 60, extra: { name: 'Test USD', version: '1' } }],
    lastUpdated: '2026-01-01T00:00:00.000Z',
    discoveryInfo: { input: { type: 'mcp', toolName: 'weather_forecast', description: 'A paid weather forecast for a city', inputSchema: { type: 'object', properties: { city: { type: 'string' } } } } },
  };
  const server: HttpServer = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const items = url.pathname === '/discovery/resources' && url.searchParams.get('type') === 'mcp' && url.searchParams.get('offset') === '0' ? [item] : [];
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ x402Version: 2, items, pagination: { limit: 100, offset: 0, total: items.length } }));
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
}
