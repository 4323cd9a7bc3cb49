// Errors carry a stable snake_case code and a short detail that names what is wrong without
// echoing the seller's bytes, which may be huge or crafted for log injection.

/** The seller's `WWW-Authenticate` value cannot be read at all: no challenge in it can be trusted. */
export class MppChallengeError extends Error {
  readonly code = 'bad_payment_offer' as const;

  constructor(readonly detail: string) {
    super(`bad_payment_offer: ${detail}`);
    this.name = 'MppChallengeError';
  }
}

/** The seller's `Payment-Receipt` value is malformed. */
export class MppReceiptError extends Error {
  readonly code = 'bad_payment_receipt' as const;

  constructor(readonly detail: string) {
    super(`bad_payment_receipt: ${detail}`);
    this.name = 'MppReceiptError';
  }
}

/**
 * Why one MPP challenge cannot be paid, in the order the checks run. A 402 may carry
 * several challenges; one bad challenge removes that option only, never the others.
 */
export type MppChallengeRefusal =
  /** A required auth-param is missing, or one has a value outside its syntax or size. */
  | 'mpp_challenge_invalid'
  /** `request` is not base64url of canonical (JCS) JSON of the expected shape. */
  | 'mpp_request_invalid'
  | 'mpp_method_not_supported'
  | 'mpp_intent_not_supported'
  /** `expires` has passed, or leaves too little time to sign and settle. */
  | 'mpp_challenge_expired'
  /** `digest` does not match the body the request will carry, or uses another algorithm. */
  | 'mpp_digest_mismatch'
  /** The challenge accepts no credential type Paybound can sign. */
  | 'mpp_credential_type_not_supported'
  /** The charge names `splits`, which an EIP-3009 authorization (one transfer) cannot pay. */
  | 'mpp_splits_not_supported';
