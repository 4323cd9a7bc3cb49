-- Agents search the paid endpoints Paybound knows, from x402 discovery and from the offers it pays.

CREATE TABLE catalog_resources (
  resource         text PRIMARY KEY CHECK (length(resource) BETWEEN 1 AND 2048),
  description      text NOT NULL DEFAULT '' CHECK (length(description) <= 2048),
  service_name     text CHECK (length(service_name) <= 256),
  tags             text[] NOT NULL DEFAULT '{}',
  x402_version     integer NOT NULL CHECK (x402_version IN (1, 2)),
  scheme           text NOT NULL,
  network          text NOT NULL,
  asset            text NOT NULL,
  pay_to           text NOT NULL,
  price_atomic     numeric(78, 0) NOT NULL CHECK (price_atomic > 0),
  -- Null when the asset is not one Paybound can value; such rows never match maxPrice.
  price_usd_micros bigint CHECK (price_usd_micros >= 0),
  -- The facilitator's base URL it was synced from, or 'observed' for an offer seen while paying.
  source           text NOT NULL CHECK (length(source) BETWEEN 1 AND 2048),
  last_updated     timestamptz NOT NULL,
  search           tsvector NOT NULL,
  synced_at        timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX catalog_resources_search_idx ON catalog_resources USING gin (search);
CREATE INDEX catalog_resources_network_price_idx ON catalog_resources (network, price_usd_micros);
