-- 061: read models for the operators' console: frozen levels, shadow refusals, spend and refusals per hour and day.

-- Levels frozen by an admin (the kill switch), with who froze them and when; Unfrozen deletes the row.
CREATE TABLE frozen_levels (
  org_id    text NOT NULL,
  level     text NOT NULL CHECK (level IN ('org', 'team', 'agent')),
  level_id  text NOT NULL,
  reason    text NOT NULL,
  frozen_by text NOT NULL,
  frozen_at timestamptz NOT NULL,
  PRIMARY KEY (org_id, level, level_id)
);

-- What shadow policies would have refused: one row per payment and shadow level.
CREATE TABLE shadow_refusals_view (
  intent_id       text NOT NULL,
  level           text NOT NULL,
  level_id        text NOT NULL,
  org_id          text NOT NULL,
  code            text NOT NULL,
  policy_version  integer NOT NULL,
  requested_micros numeric(30, 0) NOT NULL,
  occurred_at     timestamptz NOT NULL,
  PRIMARY KEY (intent_id, level)
);
CREATE INDEX shadow_refusals_view_org ON shadow_refusals_view (org_id, occurred_at);

-- Money moved per bucket (flows, not balances), keyed by org, level and bucket. `level` is
-- org, team, agent or resource (the URL paid for, without its query).
CREATE TABLE spend_series (
  org_id          text NOT NULL,
  level           text NOT NULL CHECK (level IN ('org', 'team', 'agent', 'resource')),
  level_id        text NOT NULL,
  bucket          text NOT NULL CHECK (bucket IN ('hour', 'day')),
  bucket_start    timestamptz NOT NULL,
  spent_micros    numeric(30, 0) NOT NULL DEFAULT 0,
  reserved_micros numeric(30, 0) NOT NULL DEFAULT 0,
  refunded_micros numeric(30, 0) NOT NULL DEFAULT 0,
  payments        bigint NOT NULL DEFAULT 0,
  refused         bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (org_id, level, level_id, bucket, bucket_start)
);

CREATE TABLE refusal_series (
  org_id       text NOT NULL,
  bucket       text NOT NULL CHECK (bucket IN ('hour', 'day')),
  bucket_start timestamptz NOT NULL,
  code         text NOT NULL,
  refused      bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (org_id, bucket, bucket_start, code)
);

-- The admin's paged payments list and exports walk payments by (created_at, intent_id).
CREATE INDEX payments_view_org_created ON payments_view (org_id, created_at, intent_id);
CREATE INDEX payments_view_created ON payments_view (created_at, intent_id);
