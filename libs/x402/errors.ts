// Errors carry a stable snake_case code for the API layer and a short human detail. The
// detail names the field that is wrong and never echoes the input, because the input is
// written by a seller we do not trust and may be huge or crafted for log injection.

export class X402OfferError extends Error {
  readonly code = 'bad_payment_offer' as const;

  constructor(readonly detail: string) {
    super(`bad_payment_offer: ${detail}`);
    this.name = 'X402OfferError';
  }
}

export class X402ResponseError extends Error {
  readonly code = 'bad_payment_response' as const;

  constructor(readonly detail: string) {
    super(`bad_payment_response: ${detail}`);
    this.name = 'X402ResponseError';
  }
}
