import { describe, expect, it } from 'vitest';
import { streamSlotRefusal, type StreamHolderKey, type StreamSlotLimits } from './stream-slots.js';

const limits: StreamSlotLimits = { total: 10, adminReserved: 3, perPrincipal: 2, perOrg: 4 };
const agent = (orgId: string, principal: string): StreamHolderKey => ({ kind: 'agent', orgId, principal });
const admin = (principal: string, orgId: string | null = null): StreamHolderKey => ({ kind: 'admin', orgId, principal });
const times = (n: number, make: (i: number) => StreamHolderKey) => Array.from({ length: n }, (_, i) => make(i));

describe('stream slots', () => {
  it('lets one key hold perPrincipal streams, then refuses it while others still get theirs', () => {
    const open = times(2, () => agent('o1', 'a'));
    expect(streamSlotRefusal(open, agent('o1', 'a'), limits)).toMatch(/per key/);
    expect(streamSlotRefusal(open, agent('o1', 'b'), limits)).toBeUndefined();
    // The same agent id in another org is another principal.
    expect(streamSlotRefusal(open, agent('o2', 'a'), limits)).toBeUndefined();
  });

  it('caps one org\'s agents together, leaving room for other orgs', () => {
    const open = times(4, (i) => agent('o1', `a${i}`));
    expect(streamSlotRefusal(open, agent('o1', 'new'), limits)).toMatch(/per org/);
    expect(streamSlotRefusal(open, agent('o2', 'a'), limits)).toBeUndefined();
  });

  it('keeps adminReserved slots that agents cannot take', () => {
    const open = [...times(4, (i) => agent('o1', `a${i}`)), ...times(3, (i) => agent('o2', `a${i}`))];
    expect(streamSlotRefusal(open, agent('o3', 'a'), limits)).toMatch(/kept for admins/);
    expect(streamSlotRefusal(open, admin('dashboard'), limits)).toBeUndefined();
    expect(streamSlotRefusal(open, admin('org-admin', 'o3'), limits)).toBeUndefined();
  });

  it('refuses everyone once every slot is taken, and caps one admin key too', () => {
    const full = [...times(7, (i) => agent(`o${i}`, 'a')), ...times(3, (i) => admin(`k${i}`))];
    expect(streamSlotRefusal(full, admin('other'), limits)).toMatch(/at most 10/);
    expect(streamSlotRefusal(times(2, () => admin('k')), admin('k'), limits)).toMatch(/per key/);
  });
});
