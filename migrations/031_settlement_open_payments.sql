-- 031: the worker reconciles the payments it signed from a table of its own, fed from the log, not from the balance projection.

-- One row per reservation still open: inserted at Reserved, completed at PaymentSigned
-- (payer, nonce, the signed validBefore) and SettlementReported (the transaction a seller
-- named, a hint), deleted at Settled or Refunded. Kept by the worker's reconciler from its
-- own checkpoint ('settlement-reconciler'), in the transaction that moves it.
CREATE TABLE settlement_open_payments (
  intent_id            text PRIMARY KEY,
  org_id               text NOT NULL,
  session_id           text NOT NULL,
  agent_id             text NOT NULL,
  amount_atomic        numeric(78, 0) NOT NULL,
  asset                text NOT NULL,
  network              text NOT NULL,
  pay_to               text NOT NULL,
  payer                text,
  nonce                text,
  valid_before         timestamptz,
  reported_transaction text,
  traceparent          text,
  updated_at           timestamptz NOT NULL
);
-- What reconciliation looks at: signed payments, least recently looked at first.
CREATE INDEX settlement_open_payments_signed ON settlement_open_payments (updated_at) WHERE payer IS NOT NULL AND nonce IS NOT NULL;
