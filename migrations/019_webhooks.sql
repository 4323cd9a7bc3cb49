-- Alerts leave Paybound as signed webhooks: endpoints admins register, one delivery per endpoint and event, and every attempt.

CREATE TABLE webhook_endpoints (
  endpoint_id   text PRIMARY KEY,
  url           text NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
  event_types   text[] NOT NULL CHECK (cardinality(event_types) BETWEEN 1 AND 100),
  -- null: every org, and the events that belong to none (wallet alerts).
  org_id        text,
  description   text NOT NULL DEFAULT '' CHECK (length(description) <= 500),
  -- The HMAC key itself (signing needs it, so it cannot be hashed like API keys); never returned after creation.
  secret        text NOT NULL,
  -- After a rotation the old secret still signs too, until this instant.
  previous_secret            text,
  previous_secret_expires_at timestamptz,
  enabled       boolean NOT NULL DEFAULT true,
  created_at    timestamptz NOT NULL,
  created_by    text NOT NULL,
  updated_at    timestamptz NOT NULL,
  -- Deleted endpoints get nothing more; their deliveries stay on record.
  deleted_at    timestamptz
);

CREATE TABLE webhook_deliveries (
  delivery_id      bigserial PRIMARY KEY,
  endpoint_id      text NOT NULL REFERENCES webhook_endpoints (endpoint_id),
  event_id         uuid NOT NULL REFERENCES events (event_id),
  event_type       text NOT NULL,
  status           text NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
  attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  next_attempt_at  timestamptz NOT NULL,
  -- A sender that claimed the delivery owns it until then; a crashed one's claim runs out.
  lease_expires_at timestamptz,
  last_attempt_at  timestamptz,
  last_http_status integer,
  last_error       text CHECK (length(last_error) <= 500),
  delivered_at     timestamptz,
  created_at       timestamptz NOT NULL,
  -- Exactly one delivery per endpoint and event, whatever the dispatcher does twice.
  UNIQUE (endpoint_id, event_id)
);

-- The sender's claim: anything due at all, each endpoint's due deliveries in order, and what is in flight.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_due_by_endpoint ON webhook_deliveries (endpoint_id, next_attempt_at, delivery_id) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_leased ON webhook_deliveries (endpoint_id) WHERE status = 'pending' AND lease_expires_at IS NOT NULL;
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, delivery_id DESC);

CREATE TABLE webhook_attempts (
  delivery_id  bigint NOT NULL REFERENCES webhook_deliveries (delivery_id),
  attempt      integer NOT NULL CHECK (attempt > 0),
  started_at   timestamptz NOT NULL,
  duration_ms  integer NOT NULL CHECK (duration_ms >= 0),
  http_status  integer,
  error        text CHECK (length(error) <= 500),
  PRIMARY KEY (delivery_id, attempt)
);
