// Refusals that are not budget decisions: the command itself cannot be carried out.
// Codes are stable snake_case strings; one exception filter maps them to HTTP and gRPC.

export type DomainErrorCode =
  | 'org_not_found'
  | 'org_already_exists'
  | 'team_not_found'
  | 'team_already_exists'
  | 'agent_not_found'
  | 'agent_already_exists'
  | 'session_not_found'
  | 'session_already_exists'
  | 'too_many_open_sessions'
  | 'payment_not_found'
  | 'idempotency_key_reused'
  | 'intent_conflict'
  | 'intent_already_settled'
  | 'intent_already_refunded'
  | 'settle_exceeds_reserved'
  | 'payment_not_signed'
  | 'payment_already_signed'
  | 'release_not_proven'
  | 'policy_version_mismatch'
  | 'approval_already_decided'
  | 'agent_frozen'
  | 'shadow_policy_not_found'
  | 'invalid_command';

export class DomainError extends Error {
  constructor(
    readonly code: DomainErrorCode,
    message: string,
    /** The figures behind the refusal (a limit and what was counted), for the answer. */
    readonly figures: Readonly<Record<string, string | number>> = {},
  ) {
    super(message);
    this.name = 'DomainError';
  }
}
