-- 060: tamper evidence: every event carries a sha256 chained to the previous event of its stream, computed as it is appended.

-- The hash covers the previous hash of the stream, the stream id and version, the type, the
-- data and metadata as canonical jsonb text, and the instant (UTC, microseconds), written as
-- one JSON array so no two inputs share a preimage. The first event of a stream chains to ''.
CREATE FUNCTION paybound_event_hash(previous bytea, stream_id text, stream_version bigint, type text, data jsonb, metadata jsonb, occurred_at timestamptz)
RETURNS bytea LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT sha256(convert_to(jsonb_build_array(
    coalesce(encode(previous, 'hex'), ''), stream_id, stream_version, type, data, metadata,
    to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))::text, 'UTF8'))
$$;

ALTER TABLE events ADD COLUMN hash bytea;

-- Events already in the log are chained in stream order, as if they had been appended now.
DO $$
DECLARE
  row record;
  previous bytea;
  previous_stream text := NULL;
BEGIN
  FOR row IN SELECT global_position, stream_id, stream_version, type, data, metadata, occurred_at FROM events ORDER BY stream_id, stream_version LOOP
    IF previous_stream IS DISTINCT FROM row.stream_id THEN
      previous := NULL;
      previous_stream := row.stream_id;
    END IF;
    previous := paybound_event_hash(previous, row.stream_id, row.stream_version, row.type, row.data, row.metadata, row.occurred_at);
    UPDATE events SET hash = previous WHERE global_position = row.global_position;
  END LOOP;
END $$;

ALTER TABLE events ALTER COLUMN hash SET NOT NULL;

-- Every way of appending inserts rows here, each stream's rows in version order (a row-level
-- BEFORE trigger sees the rows its statement inserted before the current one), and the
-- stream's version row is locked by the append first, so the previous event is always there.
CREATE FUNCTION paybound_chain_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  previous bytea := NULL;
BEGIN
  IF NEW.stream_version > 1 THEN
    SELECT e.hash INTO previous FROM events e WHERE e.stream_id = NEW.stream_id AND e.stream_version = NEW.stream_version - 1;
    IF previous IS NULL THEN
      RAISE EXCEPTION 'event % of stream % has no previous event to chain to', NEW.stream_version, NEW.stream_id USING ERRCODE = 'PB500';
    END IF;
  END IF;
  NEW.hash := paybound_event_hash(previous, NEW.stream_id, NEW.stream_version, NEW.type, NEW.data, NEW.metadata, NEW.occurred_at);
  RETURN NEW;
END $$;

CREATE TRIGGER events_hash_chain BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION paybound_chain_event();

-- Recomputes the chains (of one stream, or all) and returns how many events it checked and
-- the first broken link in log order (its columns null when there is none): an event whose
-- stored hash is not the hash of its content and its predecessor's stored hash, or whose
-- predecessor is missing (a version skipped).
CREATE FUNCTION paybound_verify_chain(only_stream text)
RETURNS TABLE (checked bigint, stream_id text, stream_version bigint, event_id uuid, global_position bigint, expected text, found text, problem text)
LANGUAGE sql STABLE AS $$
  WITH chained AS (
    SELECT e.stream_id, e.stream_version, e.event_id, e.global_position, e.hash,
      lag(e.stream_version) OVER w AS previous_version,
      paybound_event_hash(lag(e.hash) OVER w, e.stream_id, e.stream_version, e.type, e.data, e.metadata, e.occurred_at) AS recomputed
    FROM events e
    WHERE only_stream IS NULL OR e.stream_id = only_stream
    WINDOW w AS (PARTITION BY e.stream_id ORDER BY e.stream_version)
  ), judged AS (
    SELECT c.*,
      CASE
        WHEN coalesce(c.previous_version, 0) <> c.stream_version - 1 THEN 'missing_previous_event'
        WHEN c.hash IS DISTINCT FROM c.recomputed THEN 'hash_mismatch'
      END AS problem
    FROM chained c
  ), first_broken AS (
    SELECT * FROM judged j WHERE j.problem IS NOT NULL ORDER BY j.global_position LIMIT 1
  )
  SELECT (SELECT count(*) FROM chained), b.stream_id, b.stream_version, b.event_id, b.global_position, encode(b.recomputed, 'hex'), encode(b.hash, 'hex'), b.problem
  FROM (SELECT 1) AS one LEFT JOIN first_broken b ON true
$$;
