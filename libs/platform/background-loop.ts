/**
 * A loop that runs in the background until stopped: `run` works while `running` and waits
 * between rounds with `sleep`, which `wake` (new work, or `stop`) cuts short, so a stop
 * never waits out a poll interval.
 */
export abstract class BackgroundLoop {
  protected running = false;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake();
    await this.loop;
  }

  /** Ends the current sleep now, if the loop is in one. */
  wake(): void {
    this.wakeUp?.();
  }

  protected abstract run(): Promise<void>;

  protected sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wakeUp = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}
