-- Pay-and-fetch keeps its first answer for Idempotency-Key retries, and offers remember the URL Paybound fetched them from.

-- Set only by pay-and-fetch: the catalog learns from an offer Paybound fetched itself, and only once it settled.
ALTER TABLE payment_offers ADD COLUMN fetched_url text CHECK (length(fetched_url) <= 2048);

-- The first answer of a pay-and-fetch that reserved a payment under an Idempotency-Key: a
-- retry with the same key and request is answered from here and never pays again. The
-- seller's body is kept in clear up to 1 MiB (a larger one is not kept: body is null).
CREATE TABLE fetch_answers (
  org_id          text NOT NULL,
  agent_id        text NOT NULL,
  idempotency_key text NOT NULL,
  request_hash    text NOT NULL,
  intent_id       text NOT NULL,
  status          integer NOT NULL CHECK (status BETWEEN 100 AND 599),
  content_type    text CHECK (length(content_type) <= 256),
  body            bytea CHECK (length(body) <= 1048576),
  body_bytes      bigint NOT NULL CHECK (body_bytes >= 0),
  -- Set when the answer was Paybound's own problem rather than the seller's.
  problem_code    text,
  -- The Paybound-Amount and Paybound-Remaining headers of the first answer, when it had them.
  amount          text,
  remaining       text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org_id, agent_id, idempotency_key)
);

CREATE INDEX fetch_answers_created_at_idx ON fetch_answers (created_at);
