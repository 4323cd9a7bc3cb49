-- Payments above an approval threshold wait for an admin until this instant, then are refused.
ALTER TABLE payments_view ADD COLUMN approval_expires_at timestamptz;
CREATE INDEX payments_view_awaiting ON payments_view (approval_expires_at) WHERE status = 'awaiting_approval';
