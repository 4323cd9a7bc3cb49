import { describe, expect, it } from 'vitest';
import { formatWatchdogCommand, parseWatchdogLine, type WatchdogCommand } from './watchdog-protocol.js';

describe('what the supervisor tells its watchdog', () => {
  it.each<WatchdogCommand>([
    { kind: 'watch', process: { name: 'embedded PostgreSQL', pid: 4242, startTime: '123456', signal: 'SIGINT' } },
    { kind: 'watch', process: { name: 'governor', pid: 4243, startTime: undefined, signal: 'SIGTERM' } },
    { kind: 'unwatch', pid: 4242 },
  ])('reads back what it wrote: %j', (command) => {
    const line = formatWatchdogCommand(command);
    expect(line.endsWith('\n')).toBe(true);
    expect(parseWatchdogLine(line.trimEnd())).toEqual(command);
  });

  it.each([
    ['not JSON', 'watch 4242'],
    ['null', 'null'],
    ['an unknown kind', '{"kind":"kill","pid":4242}'],
    ['PID 1', '{"kind":"unwatch","pid":1}'],
    ['a negative PID (a process group)', '{"kind":"watch","process":{"name":"x","pid":-4242,"signal":"SIGTERM"}}'],
    ['a fractional PID', '{"kind":"watch","process":{"name":"x","pid":42.5,"signal":"SIGTERM"}}'],
    ['SIGKILL as the stop signal', '{"kind":"watch","process":{"name":"x","pid":4242,"signal":"SIGKILL"}}'],
    ['a start time that is not a number', '{"kind":"watch","process":{"name":"x","pid":4242,"startTime":"abc","signal":"SIGTERM"}}'],
    ['a name of 81 characters', JSON.stringify({ kind: 'watch', process: { name: 'x'.repeat(81), pid: 4242, signal: 'SIGTERM' } })],
    ['no process', '{"kind":"watch"}'],
  ])('ignores %s', (_what, line) => {
    expect(parseWatchdogLine(line)).toBeUndefined();
  });
});
