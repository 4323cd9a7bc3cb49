-- Signed payments: the authorization's nonce for reconciliation, and the header the worker
-- produced (a bearer authorization to pay one payee one amount; never a key).

ALTER TABLE payments_view ADD COLUMN nonce text;
ALTER TABLE payments_view ADD COLUMN reported_transaction text;
CREATE INDEX payments_view_open ON payments_view (status) WHERE status IN ('signed', 'unknown');

CREATE TABLE payment_signatures (
  intent_id    text PRIMARY KEY,
  header_name  text NOT NULL,
  header_value text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now()
);
