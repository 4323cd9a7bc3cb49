import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedAgent } from '../support/api-client.js';
import { until } from '../support/until.js';
import { freshDatabase, type TestDatabase } from '../support/database.js';
import { spawnGovernor, type GovernorProcess } from '../support/governor-process.js';
import { spawnWorker, workerDecidesVia, type WorkerProcess } from '../support/worker-process.js';
import { startX402Kit, type X402Kit } from '../../libs/devnet/index.js';
import { rpcEnvName } from '../../apps/settlement-worker/config.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const MCP_SERVER = resolve(repoRoot, 'dist/apps/mcp-server/main.js');
const ADMIN = 'test-admin-token-mcp';
const KEYSTORE_PASSWORD = 'paybound-test-keystore-passphrase';

type ToolAnswer = { isError?: boolean; structuredContent?: Record<string, unknown> };


describe('the Paybound MCP server, driven by the MCP SDK client', () => {
  let kit: X402Kit;
  let db: TestDatabase;
  let governor: GovernorProcess;
  let worker: WorkerProcess;
  let keystoreDir: string;
  let agentKey: string;
  let client: Client;
  let stderr = '';
  let sessionId: string;

  const callTool = async (c: Client, name: string, args: Record<string, unknown> = {}): Promise<ToolAnswer> => (await c.callTool({ name, arguments: args })) as ToolAnswer;

  beforeAll(async () => {
    kit = await startX402Kit();
    db = await freshDatabase('mcp');
    keystoreDir = await mkdtemp(join(tmpdir(), 'paybound-keystore-'));
    const keystoreFile = join(keystoreDir, 'worker.json');
    await promisify(execFile)(process.execPath, [resolve(repoRoot, 'dist/apps/settlement-worker/keystore-cli.js'), 'create', keystoreFile], {
      env: { PATH: process.env.PATH ?? '', PAYBOUND_KEYSTORE_PASSWORD: KEYSTORE_PASSWORD, PAYBOUND_IMPORT_PRIVATE_KEY: kit.payer.privateKey },
    });
    governor = await spawnGovernor({
      DATABASE_URL: db.url,
      PAYBOUND_ADMIN_TOKEN: ADMIN,
      PAYBOUND_ASSETS: JSON.stringify([{ network: kit.network, address: kit.token, decimals: 6, symbol: 'TUSD' }]),
      PAYBOUND_DISCOVERY_URLS: kit.facilitator.url,
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

    // The way an MCP host runs it: the built server as a child process on stdio.
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [MCP_SERVER],
      env: { PATH: process.env.PATH ?? '', PAYBOUND_URL: governor.url, PAYBOUND_API_KEY: agentKey, PAYBOUND_SESSION_LIMIT: '1.00' },
      stderr: 'pipe',
    });
    transport.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-20_000)));
    client = new Client({ name: 'paybound-test-host', version: '1.0.0' });
    await client.connect(transport);
  });

  afterAll(async () => {
    await client?.close();
    await worker?.stop();
    await governor?.stop();
    await db?.drop();
    await kit?.stop();
    if (keystoreDir !== undefined) await rm(keystoreDir, { recursive: true, force: true });
  });

  it('lists its four tools', async () => {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(['close_session', 'paid_fetch', 'search_catalog', 'session_balance']);
    expect(tools.find((t) => t.name === 'paid_fetch')?.inputSchema.required).toEqual(['url']);
  });

  it('finds the seller in the catalog synced from the facilitator', async () => {
    const found = await until('the catalog sync', async () => {
      const answer = await callTool(client, 'search_catalog', { q: 'paid test data', maxPrice: '0.05' });
      const items = (answer.structuredContent?.['items'] ?? []) as Array<Record<string, unknown>>;
      return items.length > 0 ? items : undefined;
    });
    expect(found).toEqual([expect.objectContaining({ resource: kit.seller.dataUrl, price: '0.01', priceAtomic: '10000', network: kit.network })]);
    const tooCheap = await callTool(client, 'search_catalog', { q: 'paid test data', maxPrice: '0.001' });
    expect(tooCheap.structuredContent).toEqual({ items: [], hasMore: false });
  });

  it('pays a 402 end to end with paid_fetch, and session_balance shows the spend', async () => {
    const sellerBefore = await kit.balanceOf(kit.seller.payTo);
    const paid = await callTool(client, 'paid_fetch', { url: kit.seller.dataUrl });
    expect(paid.isError, JSON.stringify(paid) + stderr).toBe(false);
    expect(paid.structuredContent).toMatchObject({ status: 200, amount: '0.01', remaining: '0.99', replayed: false, truncated: false });
    expect(paid.structuredContent?.['paymentId']).toMatch(/^pay_/);
    expect(JSON.parse(paid.structuredContent?.['body'] as string)).toMatchObject({ data: 'paid content' });
    expect(await kit.balanceOf(kit.seller.payTo)).toBe(sellerBefore + 10_000n);

    const balance = await until('settlement', async () => {
      const answer = await callTool(client, 'session_balance');
      return answer.structuredContent?.['spent'] === '0.01' ? answer.structuredContent : undefined;
    });
    expect(balance).toMatchObject({ limit: '1.00', spent: '0.01', reserved: '0.00', remaining: '0.99', status: 'open', payments: 1 });
    sessionId = balance['sessionId'] as string;
    expect(sessionId.length).toBeGreaterThan(0);
  });

  it('answers a refusal as a tool error with the Paybound code', async () => {
    const refused = await callTool(client, 'paid_fetch', { url: kit.seller.dataUrl, maxPrice: '0.001' });
    expect(refused.isError).toBe(true);
    expect(refused.structuredContent).toMatchObject({ code: 'price_above_max', limit: '0.001', requested: '0.01' });
    expect((await callTool(client, 'session_balance')).structuredContent).toMatchObject({ spent: '0.01', payments: 1 });
  });

  it('serves the same tools over streamable HTTP on a given session', async () => {
    const child: ChildProcess = spawn(process.execPath, [MCP_SERVER, '--http'], {
      env: { PATH: process.env.PATH ?? '', PAYBOUND_URL: governor.url, PAYBOUND_API_KEY: agentKey, PAYBOUND_SESSION_ID: sessionId, PAYBOUND_MCP_PORT: '0', PAYBOUND_MCP_TOKEN: 'mcp-test-token' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let output = '';
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const httpClient = new Client({ name: 'paybound-test-http-host', version: '1.0.0' });
    try {
      const url = await until('the HTTP server', () => Promise.resolve(/"url":"(http:\/\/[^"]+\/mcp)"/.exec(output)?.[1]));
      const unauthorized = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      expect(unauthorized.status).toBe(401);
      await httpClient.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: 'Bearer mcp-test-token' } } }));
      const balance = await callTool(httpClient, 'session_balance');
      expect(balance.structuredContent).toMatchObject({ sessionId, spent: '0.01', payments: 1 });
    } finally {
      await httpClient.close();
      child.kill('SIGTERM');
    }
  });

  it('closes the session with close_session: later paid fetches are refused with session_closed, and closing again changes nothing', async () => {
    const closed = await callTool(client, 'close_session');
    expect(closed.isError, JSON.stringify(closed)).toBeFalsy();
    expect(closed.structuredContent).toMatchObject({ sessionId, status: 'closed', spent: '0.01' });
    const refused = await callTool(client, 'paid_fetch', { url: kit.seller.dataUrl });
    expect(refused.isError).toBe(true);
    expect(refused.structuredContent).toMatchObject({ code: 'session_closed', level: 'session', status: 403 });
    expect((await callTool(client, 'close_session')).structuredContent).toMatchObject({ status: 'closed' });
    const events = await db.pool.query<{ type: string; code: string | null }>(
      `SELECT type, data->>'code' AS code FROM events WHERE data->>'sessionId' = $1 AND type IN ('SessionClosed', 'LimitExceeded') ORDER BY global_position`,
      [sessionId],
    );
    // The maxPrice refusal above is recorded too, at the request level.
    expect(events.rows).toEqual([
      { type: 'LimitExceeded', code: 'price_above_max' },
      { type: 'SessionClosed', code: null },
      { type: 'LimitExceeded', code: 'session_closed' },
    ]);
  });
});
