-- Upstream MCP servers admins register for the gateway: their current definition, kept from their events in the same transaction.

CREATE TABLE mcp_servers (
  name        text PRIMARY KEY CHECK (name ~ '^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$'),
  url         text NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
  org_ids     text[] NOT NULL CHECK (cardinality(org_ids) BETWEEN 1 AND 100),
  -- Null: every tool the server lists; else only these.
  tools       text[] CHECK (tools IS NULL OR cardinality(tools) BETWEEN 1 AND 200),
  description text CHECK (length(description) <= 512),
  enabled     boolean NOT NULL,
  -- The version of its event stream (mcp-server-<name>) this row reflects.
  version     integer NOT NULL CHECK (version >= 1),
  created_at  timestamptz NOT NULL,
  updated_at  timestamptz NOT NULL,
  -- A removed server is neither listed nor callable; its row stays for the name's history.
  removed_at  timestamptz
);

CREATE INDEX mcp_servers_org_ids_idx ON mcp_servers USING gin (org_ids) WHERE removed_at IS NULL;
