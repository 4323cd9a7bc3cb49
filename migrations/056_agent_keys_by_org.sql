-- Agent keys are found and revoked by org and agent: agent ids are unique within an org only.

CREATE INDEX agent_keys_org_agent ON agent_keys (org_id, agent_id);
DROP INDEX agent_keys_agent;
