-- The settlement worker signs from the offer the governor chose, which the Reserved event does not carry.

CREATE TABLE payment_offers (
  intent_id       text PRIMARY KEY,
  x402_version    integer NOT NULL CHECK (x402_version IN (1, 2)),
  -- The seller's requirement and resource exactly as received: the header must echo them.
  requirement_raw jsonb NOT NULL,
  resource_raw    jsonb,
  extensions      jsonb,
  created_at      timestamptz NOT NULL DEFAULT now()
);
