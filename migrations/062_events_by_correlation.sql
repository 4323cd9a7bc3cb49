-- 062: a payment's whole story (its events, in order) is read by the intent id every event of it carries as correlation id.
CREATE INDEX events_correlation ON events ((metadata->>'correlationId'), global_position);
