import { api, explain } from '../api.js';
import { $, cell, confirmAction, el, fill, input, notify, row, select } from '../dom.js';
import { onLiveEvent } from '../live.js';

// The kill switch: freeze or unfreeze an org, a team or an agent, always with a reason and a
// confirmation. From the governor's next decision on, nothing new is paid under a frozen level.

type Level = 'org' | 'team' | 'agent';

interface FrozenLevel {
  level: Level;
  levelId: string;
  reason: string;
  by: string;
  at: string;
}

/** The admin API path of a level, with every id encoded. */
export function levelPath(orgId: string, level: Level, levelId: string): string {
  const org = `/admin/v1/orgs/${encodeURIComponent(orgId)}`;
  if (level === 'org') return org;
  return `${org}/${level === 'team' ? 'teams' : 'agents'}/${encodeURIComponent(levelId)}`;
}

let shownOrg = '';

export async function loadFrozen(orgId = input('freeze-org').value.trim()): Promise<void> {
  shownOrg = orgId;
  $('frozen-org').textContent = orgId === '' ? 'pick an org' : `in org ${orgId}`;
  if (orgId === '') {
    fill('frozen', [], 'Pick an org to see what is frozen in it');
    return;
  }
  try {
    const { items } = (await api<{ items: FrozenLevel[] }>(`/admin/v1/orgs/${encodeURIComponent(orgId)}/frozen`)).body;
    fill(
      'frozen',
      items.map((item) => {
        const unfreeze = el('button', { type: 'button' }, 'Unfreeze…');
        unfreeze.addEventListener('click', () => void change(orgId, item.level, item.levelId, false, ''));
        return row([cell(item.level), cell(item.levelId), cell(item.reason, 'wrap'), cell(item.by), cell(new Date(item.at).toLocaleString()), cell(unfreeze)], { 'data-level': item.level, 'data-level-id': item.levelId });
      }),
      'Nothing is frozen in this org',
    );
  } catch (error) {
    fill('frozen', [], `Cannot read frozen levels: ${explain(error)}`);
  }
}

async function change(orgId: string, level: Level, levelId: string, freeze: boolean, typedReason: string): Promise<void> {
  const id = level === 'org' ? orgId : levelId;
  let reason = typedReason.trim();
  if (reason === '') reason = input('freeze-reason').value.trim();
  if (reason === '') {
    notify('Say why in Reason: it goes into the audit trail.', 'error');
    input('freeze-reason').focus();
    return;
  }
  const what = `${level} ${id}${level === 'org' ? '' : ` in org ${orgId}`}`;
  const question = freeze
    ? `Freeze ${what}? From the next decision on, every new payment and session under it is refused (agent_frozen). Payments already in flight finish.`
    : `Unfreeze ${what}? Payments under it are decided by budgets and policies again.`;
  if (!(await confirmAction(question))) return;
  try {
    const answer = await api<{ frozen: boolean }>(`${levelPath(orgId, level, id)}/${freeze ? 'freeze' : 'unfreeze'}`, { method: 'POST', body: { reason } });
    notify(`${what} is ${answer.body.frozen ? 'frozen' : 'not frozen'}`);
  } catch (error) {
    notify(`Could not ${freeze ? 'freeze' : 'unfreeze'} ${what}: ${explain(error)}`, 'error');
  }
  await loadFrozen(orgId);
}

function fromForm(freeze: boolean): void {
  const level = select('freeze-level').value as Level;
  const orgId = input('freeze-org').value.trim();
  const levelId = input('freeze-id').value.trim();
  if (orgId === '' || (level !== 'org' && levelId === '')) {
    notify(`Name the org${level === 'org' ? '' : ` and the ${level}`} to ${freeze ? 'freeze' : 'unfreeze'}.`, 'error');
    return;
  }
  void change(orgId, level, levelId, freeze, input('freeze-reason').value);
}

export function setUpFreeze(): void {
  $('freeze-form').addEventListener('submit', (event) => {
    event.preventDefault();
    fromForm(true);
  });
  $('unfreeze-submit').addEventListener('click', () => fromForm(false));
  input('freeze-org').addEventListener('change', () => void loadFrozen());
  onLiveEvent((event) => {
    if ((event.type === 'Frozen' || event.type === 'Unfrozen') && event.orgId === shownOrg) void loadFrozen(shownOrg);
  });
}
