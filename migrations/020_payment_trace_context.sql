-- The trace a payment belongs to (W3C traceparent of the latest decision about it that had
-- one), so the settlement worker's settlement span joins the trace of the request that paid.
ALTER TABLE payments_view ADD COLUMN traceparent text;
