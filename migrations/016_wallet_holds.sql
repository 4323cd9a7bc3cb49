-- What a wallet has committed, asked for on every payment decision once its balance is known:
-- the open payments in an asset, and the ones settled since the last balance reading.
CREATE INDEX payments_view_open_by_asset ON payments_view (network, lower(asset))
  WHERE status IN ('awaiting_approval', 'reserved', 'signed', 'unknown');
CREATE INDEX payments_view_settled_by_time ON payments_view (network, updated_at)
  WHERE status = 'settled';
