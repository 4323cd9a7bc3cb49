import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../support/api-client.js';
import { freePort } from '../../libs/platform/processes.js';

// `npm start` as a newcomer runs it: in a clean copy of the repository, with nothing
// configured. The copy holds the files a commit would hold (tracked, plus new files not
// ignored) and a link to this checkout's node_modules, so no download is needed; npm start
// builds dist/ itself. Everything it starts must be gone after one Ctrl-C.

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Build (tsc on 2 cores) plus embedded Postgres, anvil, governor and worker. */
const READY_TIMEOUT_MS = 240_000;
const STOP_TIMEOUT_MS = 45_000;
const PRICE_USD = '0.01';
const SESSION_LIMIT_USD = '0.10';
const PURCHASES_MAX = 20;

interface RunFile {
  pid: number;
  apiUrl: string;
  demoUrl: string;
  chainRpcUrl: string;
  workerMetricsUrl: string;
  children: { name: string; pid: number }[];
}

let workDir = '';
let npmStart: ChildProcess | undefined;
let output = '';
let readyMs = 0;
let run: RunFile;
let agentKey = '';
let exitCode: number | null | undefined;


/** Every live descendant of `rootPid`, from /proc: what Ctrl-C must leave none of. */
function descendants(rootPid: number): Map<number, string> {
  const parentOf = new Map<number, number>();
  const commandOf = new Map<number, string>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // The command name is in parentheses and may hold spaces; the fields after it are fixed.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parentOf.set(Number(entry), Number(fields[1]));
      commandOf.set(Number(entry), readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ').slice(0, 120));
    } catch {
      // The process ended while the table was read.
    }
  }
  const found = new Map<number, string>();
  let frontier = [rootPid];
  for (let depth = 0; depth < 10 && frontier.length > 0; depth += 1) {
    const next: number[] = [];
    for (const [pid, parent] of parentOf) {
      if (frontier.includes(parent) && !found.has(pid)) {
        found.set(pid, commandOf.get(pid) ?? '');
        next.push(pid);
      }
    }
    frontier = next;
  }
  return found;
}

/** Alive and not a zombie: a zombie has exited and only waits for its parent to reap it. */
function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] !== 'Z';
  } catch {
    return false;
  }
}

function copyRepository(target: string): void {
  const listed = spawnSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: repoRoot, encoding: 'utf8' });
  if (listed.status !== 0) throw new Error(`git ls-files failed: ${listed.stderr}`);
  for (const file of listed.stdout.split('\0')) {
    if (file === '' || !existsSync(join(repoRoot, file))) continue;
    mkdirSync(dirname(join(target, file)), { recursive: true });
    copyFileSync(join(repoRoot, file), join(target, file));
  }
  symlinkSync(join(repoRoot, 'node_modules'), join(target, 'node_modules'), 'dir');
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms; npm start printed:\n${output.slice(-4_000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'paybound-start-'));
  // Under root the embedded Postgres runs as the postgres user, who must reach its data dir.
  chmodSync(workDir, 0o755);
  copyRepository(workDir);
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value === undefined || name === 'DATABASE_URL' || name === 'KAFKA_BROKERS' || name.startsWith('RPC_URL_') || name.startsWith('PAYBOUND_') || name.startsWith('VITEST') || name === 'NODE_ENV') continue;
    env[name] = value;
  }
  const started = Date.now();
  // Its own process group, so the test can send SIGINT to the group as a terminal's Ctrl-C does.
  npmStart = spawn('npm', ['start'], {
    cwd: workDir,
    env: { ...env, PAYBOUND_DEMO: 'off', PORT: String(await freePort()), PAYBOUND_PG_PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  npmStart.stdout?.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-20_000)));
  npmStart.stderr?.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-20_000)));
  npmStart.once('exit', (code) => {
    exitCode = code;
  });
  const runFile = join(workDir, '.paybound', 'run.json');
  await waitFor('readiness', READY_TIMEOUT_MS, () => {
    if (exitCode !== undefined) throw new Error(`npm start exited with ${exitCode}:\n${output}`);
    return output.includes('Paybound is running') && existsSync(runFile) ? true : undefined;
  });
  readyMs = Date.now() - started;
  run = JSON.parse(readFileSync(runFile, 'utf8')) as RunFile;
  agentKey = (JSON.parse(readFileSync(join(workDir, '.paybound', 'demo-agent.json'), 'utf8')) as { apiKey: string }).apiKey;
  console.log(`npm start → ready in ${(readyMs / 1000).toFixed(1)} s (including the build); the supervisor said: ${/ready in [\d.]+ s/.exec(output)?.[0] ?? '?'}`);
}, READY_TIMEOUT_MS + 30_000);

afterAll(() => {
  // Last resort only: the test itself asserts that SIGINT stopped everything.
  if (npmStart?.pid !== undefined && exitCode === undefined) {
    for (const pid of descendants(npmStart.pid).keys()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    process.kill(npmStart.pid, 'SIGKILL');
  }
  if (workDir !== '') rmSync(workDir, { recursive: true, force: true });
});

describe('npm start on a fresh copy with no settings', () => {
  it('prints the URLs and serves the API, the docs and the dashboard', async () => {
    expect(output).toMatch(/API\s+http:\/\/127\.0\.0\.1:\d+\/v1/);
    expect(output).toMatch(/API docs\s+http:\/\/127\.0\.0\.1:\d+\/docs/);
    expect(output).toMatch(/Dashboard\s+http:\/\/127\.0\.0\.1:\d+\/dashboard/);
    expect(output).toContain('Admin token (shown once');
    expect((await fetch(`${run.apiUrl}/ready`)).status).toBe(200);
    expect((await fetch(`${run.apiUrl}/docs/openapi.json`)).status).toBe(200);
    const dashboard = await fetch(`${run.apiUrl}/dashboard`);
    expect(dashboard.status).toBe(200);
    expect(await dashboard.text()).toContain('Admin token');
  });

  it('pays for the demo data until the session budget refuses, with the figures', async () => {
    const session = await call<{ id: string }>(run.apiUrl, 'POST', '/v1/sessions', { key: agentKey, body: { limit: SESSION_LIMIT_USD } });
    expect(session.status).toBe(201);
    let paid = 0;
    let refusal: Record<string, unknown> | undefined;
    for (let n = 0; n < PURCHASES_MAX && refusal === undefined; n += 1) {
      const answer = await call<Record<string, unknown>>(run.apiUrl, 'POST', `/v1/sessions/${session.body.id}/fetch`, { key: agentKey, body: { url: run.demoUrl } });
      if (answer.status === 403) refusal = answer.body;
      else {
        expect(answer.status, JSON.stringify(answer.body)).toBe(200);
        expect(answer.headers.get('paybound-amount')).toBe(PRICE_USD);
        paid += 1;
      }
    }
    expect(paid).toBe(10);
    expect(refusal).toMatchObject({ code: 'session_limit_exceeded', level: 'session', limit: '0.10', requested: PRICE_USD, remaining: '0.00' });

    // Settlement completes after the seller's answer; the hold turns into spend.
    const settled = await waitFor('settlement of every payment', 30_000, async () => {
      const view = await call<{ spent: string; reserved: string; remaining: string; payments: number }>(run.apiUrl, 'GET', `/v1/sessions/${session.body.id}`, { key: agentKey });
      return view.body.reserved === '0.00' ? view.body : undefined;
    });
    expect(settled.spent).toBe((paid * Number(PRICE_USD)).toFixed(2));
    expect(Number(settled.remaining)).toBeLessThan(Number(PRICE_USD));
    expect(settled.payments).toBe(paid);
  });

  it('reaches the demo seller and nothing else private: not the chain, the worker or itself', async () => {
    const session = await call<{ id: string }>(run.apiUrl, 'POST', '/v1/sessions', { key: agentKey, body: { limit: SESSION_LIMIT_USD } });
    expect(session.status).toBe(201);
    const paid = await call<Record<string, unknown>>(run.apiUrl, 'POST', `/v1/sessions/${session.body.id}/fetch`, { key: agentKey, body: { url: run.demoUrl } });
    expect(paid.status, JSON.stringify(paid.body)).toBe(200);
    const sellerOrigin = new URL(run.demoUrl);
    const otherPortOfTheSellerHost = `http://${sellerOrigin.hostname}:${Number(sellerOrigin.port) === 65_535 ? 65_534 : Number(sellerOrigin.port) + 1}/`;
    const chainBody = { jsonrpc: '2.0', id: 1, method: 'eth_accounts', params: [] };
    for (const target of [
      { url: run.chainRpcUrl, method: 'POST', body: chainBody },
      { url: run.workerMetricsUrl, method: 'GET' },
      { url: `${run.apiUrl}/metrics`, method: 'GET' },
      { url: otherPortOfTheSellerHost, method: 'GET' },
    ]) {
      const refused = await call<Record<string, unknown>>(run.apiUrl, 'POST', `/v1/sessions/${session.body.id}/fetch`, { key: agentKey, body: target });
      expect({ url: target.url, status: refused.status, code: refused.body.code }).toEqual({ url: target.url, status: 403, code: 'destination_not_allowed' });
    }
  });

  it('stops everything it started on one Ctrl-C and exits 0', async () => {
    const pid = npmStart?.pid;
    if (pid === undefined) throw new Error('npm start has no pid');
    const tree = descendants(pid);
    // npm, the supervisor, Postgres and its workers, anvil, the governor and the worker.
    expect([...tree.values()].some((cmd) => cmd.includes('dist/apps/paybound/main.js'))).toBe(true);
    expect([...tree.values()].some((cmd) => cmd.includes('postgres'))).toBe(true);
    expect([...tree.values()].some((cmd) => cmd.includes('anvil'))).toBe(true);
    for (const child of run.children) expect(tree.has(child.pid), `${child.name} (pid ${child.pid}) is a descendant`).toBe(true);

    process.kill(-pid, 'SIGINT');
    await waitFor('npm start to exit', STOP_TIMEOUT_MS, () => (exitCode === undefined ? undefined : true));
    // npm itself ends by the signal, as after any Ctrl-C; the supervisor must exit 0.
    expect(exitCode === 0 || npmStart?.signalCode === 'SIGINT', output.slice(-2_000)).toBe(true);
    expect(output).toContain('Stopped.');
    const lastLog = readFileSync(join(workDir, '.paybound', 'logs', 'paybound.log'), 'utf8').trimEnd().split('\n').at(-1) ?? '{}';
    expect(JSON.parse(lastLog)).toMatchObject({ msg: 'exiting', exitCode: 0 });
    const left = await waitFor('every child to be gone', 5_000, () => {
      const running = [...tree.entries()].filter(([child]) => isRunning(child));
      return running.length === 0 ? running : undefined;
    }).catch(() => [...tree.entries()].filter(([child]) => isRunning(child)));
    expect(left).toEqual([]);
  });
});
