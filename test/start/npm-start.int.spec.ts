import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../support/api-client.js';
import { freePort, isRunning, processStartTime } from '../../libs/platform/processes.js';

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
/** The environment of every start: this one's, without settings that would point Paybound elsewhere. */
let baseEnv: Record<string, string> = {};


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


function readRun(): RunFile {
  return JSON.parse(readFileSync(join(workDir, '.paybound', 'run.json'), 'utf8')) as RunFile;
}

/**
 * Pays the demo seller once through `apiUrl`, retrying for a while: after a restart the
 * governor's pool reconnects on first use. Returns how many attempts failed first.
 */
async function payOnce(apiUrl: string, key: string, demoUrl: string): Promise<number> {
  let failures = 0;
  let last = '';
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const session = await call<{ id: string }>(apiUrl, 'POST', '/v1/sessions', { key, body: { limit: '0.05' } }).catch((error: unknown) => ({ status: 0, body: { id: '', error: String(error) } }));
    if (session.status === 201) {
      const paid = await call<Record<string, unknown>>(apiUrl, 'POST', `/v1/sessions/${session.body.id}/fetch`, { key, body: { url: demoUrl } });
      if (paid.status === 200 && paid.headers.get('paybound-amount') === PRICE_USD) return failures;
      last = `pay-and-fetch ${paid.status} ${JSON.stringify(paid.body).slice(0, 300)}`;
    } else {
      last = `open session ${session.status} ${JSON.stringify(session.body).slice(0, 300)}`;
    }
    failures += 1;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`no payment succeeded within 30 s (${failures} attempts); last: ${last}`);
}

interface Supervisor {
  pid: number;
  output: () => string;
  exited: Promise<number | null>;
  exitCode: () => number | null | undefined;
}

/** `node dist/apps/paybound/main.js` in the copy (built by the first start), in its own process group. */
function spawnSupervisor(): Supervisor {
  let text = '';
  let code: number | null | undefined;
  const child = spawn(process.execPath, [join(workDir, 'dist', 'apps', 'paybound', 'main.js')], {
    cwd: workDir,
    env: { ...baseEnv, PAYBOUND_DEMO: 'off', PORT: '0', PAYBOUND_PG_PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  child.stdout.on('data', (chunk: Buffer) => (text = (text + chunk.toString()).slice(-20_000)));
  child.stderr.on('data', (chunk: Buffer) => (text = (text + chunk.toString()).slice(-20_000)));
  const exited = new Promise<number | null>((resolveExit) =>
    child.once('exit', (exit) => {
      code = exit;
      resolveExit(exit);
    }),
  );
  if (child.pid === undefined) throw new Error('spawn failed');
  return { pid: child.pid, output: () => text, exited, exitCode: () => code };
}

async function startSupervisor(): Promise<Supervisor> {
  const supervisor = spawnSupervisor();
  await waitFor('a start to be ready', READY_TIMEOUT_MS, () => {
    if (supervisor.exitCode() !== undefined) throw new Error(`the supervisor exited with ${supervisor.exitCode()}:\n${supervisor.output()}`);
    return supervisor.output().includes('Paybound is running') ? true : undefined;
  });
  return supervisor;
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
  baseEnv = env;
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

  // The worker first, then the database under it: each is started again, and a payment goes through.
  it.each([
    { part: 'settlement worker', said: 'the settlement worker' },
    { part: 'embedded PostgreSQL', said: 'the embedded database' },
  ])('starts the $part again when it dies, says so, and payments go on', async ({ part, said }) => {
    const before = readRun().children.find((child) => child.name === part);
    if (before === undefined) throw new Error(`no ${part} in run.json: ${JSON.stringify(readRun())}`);
    const killedAt = Date.now();
    process.kill(before.pid, 'SIGKILL');
    await waitFor(`the ${part} to run again`, 60_000, () => (output.includes(`${said} is running again`) ? true : undefined));
    const again = readRun().children.find((child) => child.name === part);
    expect(output).toContain(`! ${said} exited (SIGKILL); starting it again in 1 s`);
    expect(again?.pid).not.toBe(before.pid);
    expect(isRunning(again?.pid ?? 0)).toBe(true);
    const failedFirst = await payOnce(run.apiUrl, agentKey, run.demoUrl);
    console.log(`${part} killed → running again and a payment settled ${Date.now() - killedAt} ms later (${failedFirst} attempts failed first)`);
  });

  it('stops everything it started on one Ctrl-C and exits 0', async () => {
    const pid = npmStart?.pid;
    if (pid === undefined) throw new Error('npm start has no pid');
    run = readRun();
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

describe('when the supervisor itself is killed', () => {
  const logFile = (): string => join(workDir, '.paybound', 'logs', 'paybound.log');
  const postmasterPid = (): string => join(workDir, '.paybound', 'pg', 'postmaster.pid');

  it('takes every child with it on SIGKILL, and the next start recovers by itself', async () => {
    const first = await startSupervisor();
    const firstRun = readRun();
    const tree = descendants(first.pid);
    const commands = [...tree.values()];
    for (const part of ['dist/apps/paybound/watchdog.js', 'dist/apps/governor/main.js', 'dist/apps/settlement-worker/main.js', 'postgres', 'anvil']) {
      expect(commands.some((cmd) => cmd.includes(part)), `${part} runs under the supervisor`).toBe(true);
    }

    // A second start in the same folder meanwhile is refused, and leaves the first alone.
    const second = spawnSupervisor();
    expect(await second.exited).toBe(2);
    expect(second.output()).toContain(`Paybound is already running from this folder (pid ${first.pid}, API at ${firstRun.apiUrl})`);
    expect(readRun().pid).toBe(first.pid);

    const killedAt = Date.now();
    process.kill(first.pid, 'SIGKILL');
    const left = await waitFor('every child to be gone', 30_000, () => {
      const running = [...tree.entries()].filter(([child]) => isRunning(child));
      return running.length === 0 ? running : undefined;
    }).catch(() => [...tree.entries()].filter(([child]) => isRunning(child)));
    expect(left).toEqual([]);
    console.log(`supervisor killed with SIGKILL → all ${tree.size} descendants gone after ${Date.now() - killedAt} ms`);
    const watchdogLines = readFileSync(logFile(), 'utf8').split('\n').filter((line) => line.includes('paybound-watchdog'));
    for (const name of ['governor', 'settlement worker', 'embedded PostgreSQL', 'local chain (anvil)']) {
      expect(watchdogLines.some((line) => line.includes(`the supervisor is gone; stopping ${name}`)), name).toBe(true);
    }

    // The killed run's run.json is still there; the next start finds nothing of it running.
    expect(readRun().pid).toBe(first.pid);
    const third = await startSupervisor();
    expect(third.output()).toContain(`note: the last run (pid ${first.pid}) ended without cleaning up`);
    const thirdRun = readRun();
    await payOnce(thirdRun.apiUrl, agentKey, thirdRun.demoUrl);

    // Killing the whole group leaves no one to clean up: a stale postmaster.pid and run.json.
    process.kill(-third.pid, 'SIGKILL');
    await third.exited;
    const thirdTree = [...descendants(third.pid).keys()];
    await waitFor('the killed group to be gone', 10_000, () => (thirdRun.children.every((child) => !isRunning(child.pid)) ? true : undefined));
    expect(thirdTree.filter((pid) => isRunning(pid))).toEqual([]);
    expect(existsSync(postmasterPid())).toBe(true);

    const fourth = await startSupervisor();
    expect(fourth.output()).toContain(`note: the last run (pid ${third.pid}) ended without cleaning up`);
    expect(fourth.output()).toMatch(/note: removed a stale postmaster\.pid \(process \d+ is gone\)/);
    const fourthRun = readRun();
    await payOnce(fourthRun.apiUrl, agentKey, fourthRun.demoUrl);
    process.kill(-fourth.pid, 'SIGINT');
    expect(await fourth.exited).toBe(0);
    expect(existsSync(join(workDir, '.paybound', 'run.json'))).toBe(false);
  });

  it('reports what a killed run left running, with the command that stops it, and starts nothing', async () => {
    const leftover = spawn('sleep', ['120'], { stdio: 'ignore' });
    const ended = spawn('true', { stdio: 'ignore' });
    await new Promise((resolveExit) => ended.once('exit', resolveExit));
    try {
      const leftoverPid = leftover.pid ?? 0;
      const runFile = join(workDir, '.paybound', 'run.json');
      const stale = { pid: ended.pid, startedAt: new Date().toISOString(), children: [{ name: 'governor', pid: leftoverPid, startTime: processStartTime(leftoverPid) }] };
      writeFileSync(runFile, JSON.stringify(stale));
      const attempt = spawnSupervisor();
      expect(await attempt.exited).toBe(2);
      expect(attempt.output()).toContain(`an earlier npm start (pid ${ended.pid}) was killed and left these running: governor (pid ${leftoverPid})`);
      expect(attempt.output()).toContain(`fix: stop them, then start again: kill ${leftoverPid}`);
      // Reported, not touched: the process and the file are as they were.
      expect(isRunning(leftoverPid)).toBe(true);
      expect(JSON.parse(readFileSync(runFile, 'utf8'))).toEqual(stale);
      expect(existsSync(postmasterPid())).toBe(false);
    } finally {
      leftover.kill('SIGKILL');
    }
  });
});
