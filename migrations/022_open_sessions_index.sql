-- The open-sessions gauge counts unexpired sessions at every scrape; this keeps that a range scan.
CREATE INDEX sessions_view_open_by_expiry ON sessions_view (expires_at) WHERE status = 'open';
