-- Budget balances count spend per period as the domain does: a day or month budget starts afresh each period.

ALTER TABLE budget_balances
  ADD COLUMN period text NOT NULL DEFAULT 'none' CHECK (period IN ('none', 'day', 'month')),
  -- The UTC day (YYYY-MM-DD) or month (YYYY-MM) that spent_micros counts; '' for budgets without a period.
  ADD COLUMN period_key text NOT NULL DEFAULT '';

-- Rows written before counted all-time spend: the read model is emptied, and the projection
-- rebuilds it from the log (every org stream is then behind its missing checkpoint).
TRUNCATE projection_checkpoints, budget_balances, sessions_view, payments_view, wallet_holds, projection_failures;
