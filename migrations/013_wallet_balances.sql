-- What the settlement worker last saw on chain for each wallet it pays from: the asset's
-- balance (USDC balanceOf) and the native balance, the floors that raise WalletLowBalance,
-- and whether the wallet is below a floor now (so an alert is raised once per crossing).
CREATE TABLE wallet_balances (
  network             text NOT NULL,
  address             text NOT NULL,
  -- The token contract, lower-case hex.
  asset               text NOT NULL,
  balance_atomic      numeric(78, 0) NOT NULL CHECK (balance_atomic >= 0),
  native_balance_wei  numeric(78, 0) NOT NULL CHECK (native_balance_wei >= 0),
  floor_atomic        numeric(78, 0) CHECK (floor_atomic >= 0),
  native_floor_wei    numeric(78, 0) CHECK (native_floor_wei >= 0),
  below_floor         boolean NOT NULL DEFAULT false,
  native_below_floor  boolean NOT NULL DEFAULT false,
  block_number        numeric(30, 0) NOT NULL,
  observed_at         timestamptz NOT NULL,
  PRIMARY KEY (network, asset, address)
);
