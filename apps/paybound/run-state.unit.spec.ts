import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { judgePreviousRun, readRunState, writeRunState, type RunState } from './run-state.js';

const earlier: RunState = {
  pid: 100,
  startTime: '5000',
  startedAt: '2025-01-01T00:00:00.000Z',
  apiUrl: 'http://127.0.0.1:8080',
  children: [
    { name: 'embedded PostgreSQL', pid: 101, startTime: '5001' },
    { name: 'governor', pid: 102, startTime: '5002' },
    { name: 'settlement worker', pid: 103, startTime: '5003' },
  ],
};

/** A process table: which (pid, start time) pairs run now. */
const running =
  (...pairs: [number, string][]) =>
  (pid: number, startTime: string | undefined): boolean =>
    pairs.some(([p, t]) => p === pid && (startTime === undefined || t === startTime));

describe('judging the run file an earlier start left', () => {
  it('says nothing without a file', () => {
    expect(judgePreviousRun(undefined, running())).toEqual({ kind: 'none' });
  });

  it('finds a run that still goes, with its API', () => {
    expect(judgePreviousRun(earlier, running([100, '5000'], [102, '5002']))).toEqual({ kind: 'running', pid: 100, apiUrl: 'http://127.0.0.1:8080' });
  });

  it('lists what a killed run left running', () => {
    expect(judgePreviousRun(earlier, running([101, '5001'], [103, '5003']))).toEqual({
      kind: 'leftovers',
      pid: 100,
      parts: [earlier.children[0], earlier.children[2]],
    });
  });

  it('calls a run stale when nothing of it runs', () => {
    expect(judgePreviousRun(earlier, running())).toEqual({ kind: 'stale', pid: 100 });
  });

  it('does not take a reused PID for the process it recorded', () => {
    // PIDs 100 and 102 now belong to processes that started later.
    expect(judgePreviousRun(earlier, running([100, '9000'], [102, '9001']))).toEqual({ kind: 'stale', pid: 100 });
  });
});

describe('the run file on disk', () => {
  const dir = mkdtempSync(join(tmpdir(), 'paybound-run-state-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is written whole and read back', () => {
    const file = join(dir, 'run.json');
    writeRunState(file, earlier);
    expect(readRunState(file)).toEqual(earlier);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(earlier);
  });

  it.each([
    ['not JSON', '{"pid":'],
    ['no pid', JSON.stringify({ children: [] })],
    ['pid 1', JSON.stringify({ pid: 1, children: [] })],
    ['a child without a pid', JSON.stringify({ pid: 100, children: [{ name: 'governor' }] })],
    ['children not a list', JSON.stringify({ pid: 100, children: {} })],
    ['a numeric start time', JSON.stringify({ pid: 100, startTime: 5, children: [] })],
  ])('says nothing when it is %s', (_what, content) => {
    const file = join(dir, 'bad.json');
    writeFileSync(file, content);
    expect(readRunState(file)).toBeUndefined();
  });

  it('says nothing when there is none', () => {
    expect(readRunState(join(dir, 'missing.json'))).toBeUndefined();
  });
});
