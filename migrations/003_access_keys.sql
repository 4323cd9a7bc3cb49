-- API keys are secrets, not events: only their SHA-256 hashes are kept, outside the log.

CREATE TABLE agent_keys (
  key_hash   bytea PRIMARY KEY,
  agent_id   text NOT NULL,
  org_id     text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz
);
CREATE INDEX agent_keys_agent ON agent_keys (agent_id);
