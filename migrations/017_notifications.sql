-- Wake-ups instead of polling: the worker hears that events were appended, the governor that a payment got its header or was closed without one.

-- One notification per INSERT statement on events, not per row: the governor's group commit
-- writes a whole batch in one statement, and the decision path pays for one pg_notify per
-- transaction at most. The payload is empty; listeners read the log from their checkpoint.
CREATE FUNCTION paybound_notify_events_appended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('paybound_events_appended', '');
  RETURN NULL;
END
$$;

CREATE TRIGGER events_appended_notify AFTER INSERT ON events
  FOR EACH STATEMENT EXECUTE FUNCTION paybound_notify_events_appended();

-- The intent id of each stored header (never the header itself): the governor's waiters
-- read it from the table. A row skipped by ON CONFLICT DO NOTHING fires nothing, and needs
-- not, since the row that is there already notified.
CREATE FUNCTION paybound_notify_payment_signal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('paybound_payment_signal', NEW.intent_id);
  RETURN NULL;
END
$$;

CREATE TRIGGER payment_signatures_notify AFTER INSERT ON payment_signatures
  FOR EACH ROW EXECUTE FUNCTION paybound_notify_payment_signal();

-- A payment closed without a header (the worker refused and released it, or it was
-- rejected) ends a wait too. Only transitions into those states notify, so the projection's
-- ordinary updates cost one WHEN test per row.
CREATE TRIGGER payments_view_closed_notify AFTER UPDATE OF status ON payments_view
  FOR EACH ROW WHEN (NEW.status IN ('refunded', 'rejected') AND OLD.status IS DISTINCT FROM NEW.status)
  EXECUTE FUNCTION paybound_notify_payment_signal();

CREATE TRIGGER payments_view_rejected_notify AFTER INSERT ON payments_view
  FOR EACH ROW WHEN (NEW.status = 'rejected')
  EXECUTE FUNCTION paybound_notify_payment_signal();
