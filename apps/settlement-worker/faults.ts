import { writeSync } from 'node:fs';
import type { SigningFaults } from '../../libs/settlement/reservation-signing.js';
import type { WorkerFault } from './config.js';

// PAYBOUND_WORKER_FAULT=exit_after_sign|exit_after_record, a test-only fault injection: the
// process SIGKILLs itself right after signing (before recording the signature) or right after
// recording it (before storing the header), to prove a restart never pays twice.
// PAYBOUND_WORKER_FAULT_AFTER=n makes it strike the n-th time instead of the first, in the
// middle of a page whose other reservations are being handled at the same moment.

/** The fault points for the signing library, or none. */
export function signingFaults(fault: WorkerFault, afterCount: number): SigningFaults | undefined {
  if (fault === 'none') return undefined;
  let hits = 0;
  const strike = (intentId: string): void => {
    hits += 1;
    if (hits < afterCount) return;
    // Written synchronously: the log line must be out before the process dies.
    writeSync(2, `${JSON.stringify({ level: 40, time: Date.now(), service: 'settlement-worker', intentId, fault, msg: 'test-only fault injection: killing the worker' })}\n`);
    process.kill(process.pid, 'SIGKILL');
  };
  return fault === 'exit_after_sign' ? { afterSign: strike } : { afterRecord: strike };
}
