import type { RecordSignature, Release, Settle } from '../domain/budget/commands.js';
import { DomainError, type DomainErrorCode } from '../domain/budget/errors.js';
import { encodeJson } from '../eventstore/json-codec.js';
import { isDomainErrorCode } from '../platform/error-catalogue.js';
import type { ObservedDecisions } from '../ledger/decision-telemetry.js';
import { traceparentOf } from '../platform/tracing.js';

// Where the settlement worker's budget commands are decided. With a governor to ask, it
// decides them in the org's one writer, and the worker keeps no org state and writes no org
// stream of its own: two processes writing one org stream keep both off the fast path (each
// commit fenced on a stream the other has just moved). The governor answers a refusal as
// problem+json with the domain's code, which becomes the same DomainError here that a
// local decision throws.

export type WorkerCommand = RecordSignature | Settle | Release;

export interface WorkerDecisions {
  /** Resolves once the decision is committed; rejects with a DomainError when the ledger refused it. */
  submit(command: WorkerCommand): Promise<unknown>;
}

/** The worker's own org command processor: for a worker alone (no governor to ask) and for tests. */
export function localDecisions(decisions: ObservedDecisions): WorkerDecisions {
  return { submit: (command) => decisions.submit(command, () => undefined) };
}

/**
 * Submits a command; the listed domain refusals mean "already decided otherwise" and are
 * returned, not thrown. Anything else (the governor unreachable, the database down) throws.
 */
export async function submitExpecting(decisions: WorkerDecisions, command: WorkerCommand, expected: readonly DomainErrorCode[]): Promise<{ ok: true } | { ok: false; code: DomainErrorCode }> {
  try {
    await decisions.submit(command);
    return { ok: true };
  } catch (error) {
    if (error instanceof DomainError && expected.includes(error.code)) return { ok: false, code: error.code };
    throw error;
  }
}

export const WORKER_ACTOR = 'worker:settlement';
export const WORKER_COMMANDS_PATH = '/internal/v1/worker-commands';

export interface WorkerCommandAnswer {
  /** The events the decision appended; none when it was a retry of one already decided. */
  events: { type: string; streamVersion: number }[];
}

export interface GovernorDecisionsOptions {
  /** The governor's base URL, e.g. http://127.0.0.1:8080. */
  governorUrl: string;
  /** PAYBOUND_WORKER_TOKEN, shared with the governor. */
  token: string;
  timeoutMs: number;
}

export class GovernorDecisions implements WorkerDecisions {
  private readonly endpoint: string;

  constructor(private readonly options: GovernorDecisionsOptions) {
    this.endpoint = new URL(WORKER_COMMANDS_PATH, options.governorUrl).toString();
  }

  /**
   * Resolves once the governor has committed the decision. Rejects with a DomainError when
   * the ledger refused the command, and with an Error when the governor could not be asked
   * or failed: the worker then treats it as not decided and tries again later.
   */
  async submit(command: WorkerCommand): Promise<WorkerCommandAnswer> {
    const { actor: _actor, ...body } = command;
    const traceparent = traceparentOf();
    let response: Response;
    try {
      response = await fetch(this.endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${this.options.token}`, ...(traceparent === undefined ? {} : { traceparent }) },
        body: encodeJson(body),
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
    } catch (error) {
      throw new Error(`the governor at ${this.options.governorUrl} could not be asked to decide ${command.type}: ${(error as Error).message}`);
    }
    const answer = (await response.json().catch(() => ({}))) as Partial<WorkerCommandAnswer> & { code?: unknown; detail?: unknown };
    if (response.ok && Array.isArray(answer.events)) return { events: answer.events };
    const code = typeof answer.code === 'string' ? answer.code : '';
    const detail = typeof answer.detail === 'string' ? answer.detail : '';
    if (isDomainErrorCode(code)) throw new DomainError(code, detail);
    throw new Error(`the governor refused to decide ${command.type}: ${response.status} ${code || 'no problem code'}${detail === '' ? '' : `: ${detail}`}`);
  }
}
