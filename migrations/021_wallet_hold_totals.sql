-- What open payments hold per org and asset, kept by the balance projection, so a payment
-- decision reads one row per org instead of summing every open payment of the asset.
CREATE TABLE wallet_holds (
  org_id        text NOT NULL,
  network       text NOT NULL,
  -- The token contract, lower-case hex, as in wallet_balances.
  asset         text NOT NULL,
  held_atomic   numeric(78, 0) NOT NULL CHECK (held_atomic >= 0),
  PRIMARY KEY (network, asset, org_id)
);

INSERT INTO wallet_holds (org_id, network, asset, held_atomic)
SELECT org_id, network, lower(asset), SUM(amount_atomic)
FROM payments_view
WHERE status IN ('awaiting_approval', 'reserved', 'signed', 'unknown') AND network IS NOT NULL AND asset IS NOT NULL AND amount_atomic IS NOT NULL
GROUP BY org_id, network, lower(asset);
