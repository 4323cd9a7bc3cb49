-- Read models for live balances and payments; rebuilt from the event log at any time.

-- How far each org stream has been applied to the read models below.
CREATE TABLE projection_checkpoints (
  stream_id text PRIMARY KEY,
  version   bigint NOT NULL
);

CREATE TABLE budget_balances (
  org_id          text NOT NULL,
  level           text NOT NULL CHECK (level IN ('org', 'team', 'agent')),
  level_id        text NOT NULL,
  name            text NOT NULL,
  limit_micros    numeric(30, 0),
  reserved_micros numeric(30, 0) NOT NULL DEFAULT 0,
  spent_micros    numeric(30, 0) NOT NULL DEFAULT 0,
  PRIMARY KEY (org_id, level, level_id)
);

CREATE TABLE sessions_view (
  session_id      text PRIMARY KEY,
  org_id          text NOT NULL,
  agent_id        text NOT NULL,
  team_id         text,
  limit_micros    numeric(30, 0) NOT NULL,
  reserved_micros numeric(30, 0) NOT NULL DEFAULT 0,
  spent_micros    numeric(30, 0) NOT NULL DEFAULT 0,
  payments_count  integer NOT NULL DEFAULT 0,
  max_payments    integer,
  status          text NOT NULL,
  expires_at      timestamptz NOT NULL,
  metadata        jsonb NOT NULL,
  created_at      timestamptz NOT NULL,
  updated_at      timestamptz NOT NULL
);
CREATE INDEX sessions_view_agent ON sessions_view (agent_id, created_at);

CREATE TABLE payments_view (
  intent_id      text PRIMARY KEY,
  org_id         text NOT NULL,
  session_id     text NOT NULL,
  agent_id       text NOT NULL,
  status         text NOT NULL,
  amount_micros  numeric(30, 0) NOT NULL,
  amount_atomic  numeric(78, 0),
  asset          text,
  network        text,
  pay_to         text,
  resource       text,
  valid_before   timestamptz,
  transaction    text,
  payer          text,
  reason         text,
  refusal        jsonb,
  created_at     timestamptz NOT NULL,
  updated_at     timestamptz NOT NULL
);
CREATE INDEX payments_view_session ON payments_view (session_id, created_at);
