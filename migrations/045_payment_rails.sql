-- 045: the rail each payment was chosen on (the worker signs an MPP challenge from it; GET /v1/payments shows it) and the seller's receipt.

-- Written by the governor before the Reserve command is submitted, like payment_offers: the
-- worker signs an MPP challenge from `mpp_challenge` (the auth-params exactly as received,
-- serialised as one `Payment` challenge) and the token's EIP-712 domain, which the challenge
-- does not carry. `options` is the audit the Reserved event records, kept for reads.
CREATE TABLE payment_rails (
  intent_id         text PRIMARY KEY,
  rail              text NOT NULL CHECK (rail IN ('x402', 'mpp')),
  scheme            text NOT NULL,
  transfer          text NOT NULL CHECK (transfer IN ('eip3009', 'permit2')),
  metered           boolean NOT NULL,
  max_amount_atomic numeric(78, 0) NOT NULL,
  options           jsonb NOT NULL,
  mpp_challenge     text,
  -- keccak256(challenge id ‖ realm), the EIP-3009 nonce the seller requires: one challenge
  -- pays one intent, so one on-chain transfer can never settle two payments.
  mpp_nonce         text UNIQUE,
  token_domain      jsonb,
  created_at        timestamptz NOT NULL DEFAULT now()
);

-- What the seller answered with the payment: x402 PAYMENT-RESPONSE or MPP Payment-Receipt,
-- as received (bounded), the first one kept.
CREATE TABLE payment_receipts (
  intent_id    text PRIMARY KEY,
  header_name  text NOT NULL,
  header_value text NOT NULL CHECK (length(header_value) <= 16384),
  received_at  timestamptz NOT NULL DEFAULT now()
);
