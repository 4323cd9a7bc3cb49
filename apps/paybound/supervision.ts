// Under `npm start` a part that dies (the database, the governor, the worker) is started
// again, after a wait that doubles with each failure in a row, so that a part that cannot
// run does not spin; a part that stayed up for a while starts counting from zero again.

export const RESTART_DELAY_FIRST_MS = 1_000;
export const RESTART_DELAY_MAX_MS = 30_000;
/** Up this long, a part's next exit is a new failure, not one more of a series. */
export const RESTART_STABLE_AFTER_MS = 60_000;

/** The wait before restart number `failuresInARow` (1 for the first). */
export function restartDelayMs(failuresInARow: number): number {
  const doublings = Math.min(Math.max(failuresInARow, 1) - 1, 10);
  return Math.min(RESTART_DELAY_FIRST_MS * 2 ** doublings, RESTART_DELAY_MAX_MS);
}

/** One run of a part: a process that can be stopped and reports its end. */
export interface RunningPart {
  pid: number;
  exited: Promise<number | string>;
  stop(): Promise<void>;
}

export interface RestartHooks<P extends RunningPart> {
  /** A line for the terminal (and the log). */
  say(line: string): void;
  /** Called for every run, the first included: watch it, record it. */
  started(part: P): void;
  /** Called when a run has ended: stop watching it. */
  ended(part: P, code: number | string): void;
  /** False once the whole of npm start is stopping. */
  keepRunning(): boolean;
  /** Where its output goes, for the terminal lines. */
  logHint: string;
}

/**
 * A part of npm start that is started again when it exits unasked. start() runs it the first
 * time and fails as the first run fails; later failures are retried with backoff until stop().
 */
export class RestartingPart<P extends RunningPart> {
  private current: P | undefined;
  private failuresInARow = 0;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly name: string,
    private readonly run: () => Promise<P>,
    private readonly hooks: RestartHooks<P>,
  ) {}

  get pid(): number | undefined {
    return this.current?.pid;
  }

  async start(): Promise<P> {
    const part = await this.run();
    this.adopt(part);
    return part;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.current?.stop();
  }

  private adopt(part: P): void {
    this.current = part;
    this.hooks.started(part);
    const startedAtMs = Date.now();
    void part.exited.then((code) => this.onExit(part, code, startedAtMs));
  }

  private onExit(part: P, code: number | string, startedAtMs: number): void {
    this.hooks.ended(part, code);
    if (this.current === part) this.current = undefined;
    if (this.stopped || !this.hooks.keepRunning()) return;
    if (Date.now() - startedAtMs >= RESTART_STABLE_AFTER_MS) this.failuresInARow = 0;
    this.failuresInARow += 1;
    const delayMs = restartDelayMs(this.failuresInARow);
    this.hooks.say(`  ! ${this.name} exited (${code}); starting it again in ${delayMs / 1000} s (see ${this.hooks.logHint})`);
    this.schedule(delayMs);
  }

  private schedule(delayMs: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.restart(), delayMs);
  }

  private async restart(): Promise<void> {
    if (this.stopped || !this.hooks.keepRunning()) return;
    let part: P;
    try {
      part = await this.run();
    } catch (error) {
      this.failuresInARow += 1;
      const delayMs = restartDelayMs(this.failuresInARow);
      this.hooks.say(`  ! ${this.name} did not start again: ${(error as Error).message.split('\n')[0]}; next try in ${delayMs / 1000} s`);
      this.schedule(delayMs);
      return;
    }
    if (this.stopped || !this.hooks.keepRunning()) {
      await part.stop();
      return;
    }
    this.adopt(part);
    this.hooks.say(`  ✓ ${this.name} is running again (pid ${part.pid})`);
  }
}
