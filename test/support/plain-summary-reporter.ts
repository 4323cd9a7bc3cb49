import type { Reporter, TestModule, TestRunEndReason, Vitest } from 'vitest/node';

/**
 * Prints one machine-readable line after everything else, `tests: N passed, N failed`
 * (with `, N skipped` when there are any), which CI parses instead of the human report.
 */
export default class PlainSummaryReporter implements Reporter {
  private watchMode = false;
  private pendingLine: string | undefined;

  onInit(vitest: Vitest): void {
    this.watchMode = vitest.config.watch;
    // Vitest prints some failures (a global setup that throws, unhandled errors) after the
    // reporters have run, so in a one-shot run the line is written when the process exits,
    // which keeps it last. Writes to files and pipes are synchronous on Linux, so nothing is
    // lost in the exit handler.
    if (!this.watchMode) {
      process.once('exit', () => {
        if (this.pendingLine !== undefined) process.stdout.write(this.pendingLine);
      });
    }
  }

  onTestRunEnd(
    testModules: ReadonlyArray<TestModule>,
    unhandledErrors: ReadonlyArray<unknown>,
    reason: TestRunEndReason,
  ): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    for (const testModule of testModules) {
      let failedHere = 0;
      for (const testCase of testModule.children.allTests()) {
        const state = testCase.result().state;
        if (state === 'passed') passed += 1;
        else if (state === 'failed') failedHere += 1;
        else skipped += 1;
      }
      // A module that fails to import, or whose hooks throw, may have no failed test case;
      // it still counts once so that "0 failed" always means the run was clean.
      if (failedHere === 0 && testModule.state() === 'failed') failedHere = 1;
      failed += failedHere;
    }
    // The same goes for a run that failed outside any module, such as a global setup that
    // threw or an unhandled error.
    if (failed === 0 && (reason === 'failed' || unhandledErrors.length > 0)) failed = 1;
    const parts = [`${passed} passed`, `${failed} failed`];
    if (skipped > 0) parts.push(`${skipped} skipped`);
    const line = `tests: ${parts.join(', ')}\n`;
    if (this.watchMode) process.stdout.write(line);
    else this.pendingLine = line;
  }
}
