-- Named admin keys, so that every admin change records who made it; stored hashed.

CREATE TABLE admin_keys (
  key_hash   bytea PRIMARY KEY,
  name       text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz
);

CREATE INDEX events_occurred_at ON events (occurred_at);
