-- 032: webhook secrets and stored payment headers are sealed at rest (AES-256-GCM), with the id of the data key beside each value.

-- A null key id marks a value stored in the clear before sealing began; the governor and the
-- worker seal those (and values under a retired key) with the current key when they start.
ALTER TABLE payment_signatures ADD COLUMN header_key_id text;
ALTER TABLE webhook_endpoints ADD COLUMN secret_key_id text, ADD COLUMN previous_secret_key_id text;
