import { api, ApiError, explain } from '../api.js';
import { $, cell, confirmAction, fill, input, notify, row, select } from '../dom.js';
import { dollars } from '../format.js';
import { levelPath } from './freeze.js';

// The policy editor: one level's enforced or shadow policy as JSON, saved with the ETag it was
// loaded with. When another admin saved first, the governor answers 412 and the page shows
// their version next to this one, so nobody overwrites a change they have not seen.

type Level = 'org' | 'team' | 'agent';
type Mode = 'enforce' | 'shadow';

interface Loaded {
  orgId: string;
  level: Level;
  levelId: string;
  mode: Mode;
  etag: string;
  version: number;
}

interface PolicyAnswer {
  version: number;
  /** Null for a level that has no shadow policy yet. */
  policy: Record<string, unknown> | null;
}

interface ShadowReport {
  since: string;
  until: string;
  wouldRefuseCount: number;
  wouldRefuseAmount: string;
  byCode: { code: string; count: number; amount: string }[];
}

/** What the page is editing; undefined until a policy is loaded. */
let loaded: Loaded | undefined;
/** The other admin's version after a 412, so "save mine over theirs" uses its ETag. */
let conflictEtag: string | undefined;

function policyUrl(target: { orgId: string; level: Level; levelId: string }, mode: Mode, suffix = ''): string {
  return `${levelPath(target.orgId, target.level, target.levelId)}/policy${suffix}${mode === 'shadow' && suffix === '' ? '?mode=shadow' : ''}`;
}

/** The policy as the editor shows it: the mode is chosen above the editor, not typed in it. */
function editable(policy: Record<string, unknown> | null): string {
  if (policy === null) return '{}';
  const { mode: _mode, ...rules } = policy;
  return JSON.stringify(rules, null, 2);
}

function show(target: Omit<Loaded, 'etag' | 'version'>, answer: PolicyAnswer, etag: string): void {
  loaded = { ...target, etag, version: answer.version };
  conflictEtag = undefined;
  $('policy-editor').hidden = false;
  $('policy-conflict').hidden = true;
  $('policy-version').textContent = String(answer.version);
  $('policy-etag').textContent = etag;
  $('policy-mode-label').textContent = target.mode === 'shadow' ? 'shadow: decides nothing' : 'enforced';
  $('policy-mode-label').className = `pill ${target.mode}`;
  $<HTMLTextAreaElement>('policy-text').value = editable(answer.policy);
  $('policy-promote').hidden = target.mode !== 'shadow';
  $('policy-result').textContent = '';
}

async function load(): Promise<void> {
  const level = select('policy-level').value as Level;
  const orgId = input('policy-org').value.trim();
  const levelId = level === 'org' ? orgId : input('policy-id').value.trim();
  const mode = select('policy-mode').value as Mode;
  if (orgId === '' || levelId === '') {
    notify(`Name the org${level === 'org' ? '' : ` and the ${level}`} whose policy to edit.`, 'error');
    return;
  }
  const target = { orgId, level, levelId, mode };
  try {
    const answer = await api<PolicyAnswer>(policyUrl(target, mode));
    show(target, answer.body, answer.etag ?? `"${answer.body.version}"`);
  } catch (error) {
    $('policy-editor').hidden = true;
    notify(`Cannot load the policy: ${explain(error)}`, 'error');
  }
  await loadShadowReport(orgId);
}

function parseEdited(): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse($<HTMLTextAreaElement>('policy-text').value) as unknown;
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // Reported below.
  }
  $('policy-result').textContent = 'The policy must be a JSON object.';
  return undefined;
}

async function save(ifMatch: string): Promise<void> {
  if (loaded === undefined) return;
  const policy = parseEdited();
  if (policy === undefined) return;
  const target = loaded;
  try {
    const answer = await api<PolicyAnswer>(policyUrl(target, target.mode), { method: 'PUT', body: policy, headers: { 'If-Match': ifMatch } });
    show(target, answer.body, answer.etag ?? `"${answer.body.version}"`);
    $('policy-result').textContent = `Saved: version ${answer.body.version}`;
    notify(`${target.level} ${target.levelId} ${target.mode === 'shadow' ? 'shadow ' : ''}policy saved as version ${answer.body.version}`);
  } catch (error) {
    if (error instanceof ApiError && error.status === 412) await showConflict(target, policy, error);
    else $('policy-result').textContent = `Not saved: ${explain(error)}`;
  }
}

interface Conflict {
  policy: Record<string, unknown> | null;
  etag: string;
  version: number;
  changedBy: string;
  changedAt: string;
}

/** The 412's own account of the other change, or the current policy and its audit entry. */
async function conflictOf(target: Loaded, error: ApiError): Promise<Conflict> {
  const body = error.body;
  const current = (typeof body.current === 'object' && body.current !== null ? body.current : body) as Record<string, unknown>;
  let policy = typeof current.policy === 'object' ? (current.policy as Record<string, unknown> | null) : undefined;
  let etag = typeof current.etag === 'string' ? current.etag : typeof body.etag === 'string' ? body.etag : undefined;
  let version = typeof current.version === 'number' ? current.version : undefined;
  let changedBy = typeof body.changedBy === 'string' ? body.changedBy : typeof current.changedBy === 'string' ? current.changedBy : undefined;
  let changedAt = typeof body.changedAt === 'string' ? body.changedAt : typeof current.changedAt === 'string' ? current.changedAt : undefined;
  if (policy === undefined || etag === undefined || version === undefined) {
    const fresh = await api<PolicyAnswer>(policyUrl(target, target.mode));
    policy = fresh.body.policy;
    version = fresh.body.version;
    etag = fresh.etag ?? `"${fresh.body.version}"`;
  }
  if (changedBy === undefined || changedAt === undefined) {
    // The audit trail names who saved the version that is current now.
    const audit = await api<{ items: { actor: string; occurredAt: string; data: { level?: string; levelId?: string; version?: number } }[] }>(
      `/admin/v1/audit?orgId=${encodeURIComponent(target.orgId)}&type=PolicyChanged&limit=500`,
    );
    const entry = audit.body.items.filter((item) => item.data.level === target.level && item.data.levelId === target.levelId && item.data.version === version).at(-1);
    changedBy ??= entry?.actor ?? 'another admin';
    changedAt ??= entry?.occurredAt ?? '';
  }
  return { policy, etag, version, changedBy, changedAt };
}

async function showConflict(target: Loaded, mine: Record<string, unknown>, error: ApiError): Promise<void> {
  let conflict: Conflict;
  try {
    conflict = await conflictOf(target, error);
  } catch (readError) {
    $('policy-result').textContent = `Not saved: someone else changed it first, and it cannot be read now (${explain(readError)})`;
    return;
  }
  conflictEtag = conflict.etag;
  $('policy-result').textContent = `Not saved: version ${target.version} is no longer current.`;
  $('policy-conflict-who').textContent = `${conflict.changedBy} saved version ${conflict.version}${conflict.changedAt === '' ? '' : ` at ${new Date(conflict.changedAt).toLocaleString()}`} after you loaded version ${target.version}.`;
  $('policy-conflict-theirs').textContent = editable(conflict.policy);
  $('policy-conflict-mine').textContent = JSON.stringify(mine, null, 2);
  $('policy-conflict').hidden = false;
  $('policy-conflict').dataset.theirs = JSON.stringify(conflict);
}

function takeTheirs(): void {
  if (loaded === undefined) return;
  const raw = $('policy-conflict').dataset.theirs;
  if (raw === undefined) return;
  const conflict = JSON.parse(raw) as Conflict;
  show(loaded, { version: conflict.version, policy: conflict.policy }, conflict.etag);
}

async function promote(): Promise<void> {
  if (loaded?.mode !== 'shadow') return;
  const target = loaded;
  const ok = await confirmAction(`Enforce the shadow policy (version ${target.version}) of ${target.level} ${target.levelId}? From the next decision on it refuses payments.`);
  if (!ok) return;
  try {
    await api(policyUrl(target, 'shadow', '/shadow/promote'), { method: 'POST', headers: { 'If-Match': target.etag } });
    notify(`The shadow policy of ${target.level} ${target.levelId} is now enforced`);
    select('policy-mode').value = 'enforce';
    await load();
  } catch (error) {
    $('policy-result').textContent = `Not promoted: ${explain(error)}`;
  }
}

export async function loadShadowReport(orgId = input('policy-org').value.trim()): Promise<void> {
  if (orgId === '') return;
  try {
    const report = (await api<ShadowReport>(`/admin/v1/orgs/${encodeURIComponent(orgId)}/policy/shadow/report`)).body;
    $('shadow-report').hidden = false;
    const payments = report.wouldRefuseCount === 1 ? 'payment' : 'payments';
    $('shadow-summary').textContent = `Would have refused ${report.wouldRefuseCount} ${payments} (${dollars(report.wouldRefuseAmount)}) since ${new Date(report.since).toLocaleString()}`;
    fill('shadow-codes', report.byCode.map((c) => row([cell(c.code), cell(String(c.count), 'num'), cell(dollars(c.amount), 'num')])), 'No payment would have been refused');
  } catch (error) {
    $('shadow-report').hidden = false;
    $('shadow-summary').textContent = `No shadow report: ${explain(error)}`;
    fill('shadow-codes', [], '');
  }
}

export function setUpPolicies(): void {
  $('policy-pick').addEventListener('submit', (event) => {
    event.preventDefault();
    void load();
  });
  $('policy-save').addEventListener('click', () => {
    if (loaded !== undefined) void save(loaded.etag);
  });
  $('policy-take-theirs').addEventListener('click', takeTheirs);
  $('policy-overwrite').addEventListener('click', () => {
    if (conflictEtag !== undefined) void save(conflictEtag);
  });
  $('policy-promote').addEventListener('click', () => void promote());
}
