-- 018: one statement commits a batch (the orgs' locks, the expected-version fence and the events), so a decision costs one round trip.

-- Sent on its own, outside BEGIN/COMMIT, the call runs in an implicit transaction that has
-- committed by the time the client reads the answer; sent inside a transaction it only
-- appends. The advisory locks, taken in ascending key order as every process does, make it
-- the only writer of those org streams while it runs. Each stream must be at its expected
-- version and, when an expected head is given, hold that event at that version: the last
-- event of a batch sent just before and not yet known to have committed, because a version
-- alone cannot tell that batch from another writer's batch of the same length. If any stream
-- fails, nothing is written and the error (SQLSTATE PB409) lists the stale streams as JSON.
--
-- batch = {"streams": [{"id", "v": expected version, "n": events, "h": expected head or null}],
--          "events":  [{"i": event id, "s": stream id, "v": stream version, "t": type,
--                       "sv": schema version, "d": data, "m": metadata, "o": occurred at}]}
-- Returns the events' global positions in the order given, and the transaction id.
CREATE FUNCTION paybound_append_fenced(lock_namespace integer, lock_keys integer[], batch jsonb)
RETURNS TABLE (global_positions bigint[], xact_id text)
LANGUAGE plpgsql AS $$
DECLARE
  lock_key integer;
  stream_count integer;
  fenced_ids text[];
  stale jsonb;
BEGIN
  FOREACH lock_key IN ARRAY (SELECT coalesce(array_agg(DISTINCT k ORDER BY k), '{}') FROM unnest(lock_keys) AS k) LOOP
    PERFORM pg_advisory_xact_lock(lock_namespace, lock_key);
  END LOOP;

  -- A malformed batch is a bug in the caller; it must not leave versions and events apart.
  SELECT count(*) INTO stream_count FROM jsonb_to_recordset(batch->'streams') AS f(id text);
  IF stream_count = 0
     OR stream_count <> (SELECT count(DISTINCT f.id) FROM jsonb_to_recordset(batch->'streams') AS f(id text))
     OR EXISTS (SELECT 1 FROM jsonb_to_recordset(batch->'streams') AS f(v bigint, n bigint, h uuid) WHERE f.v < 0 OR f.n < 0 OR (f.v = 0 AND f.h IS NOT NULL))
     OR (SELECT coalesce(sum(f.n), 0) FROM jsonb_to_recordset(batch->'streams') AS f(n bigint)) <> jsonb_array_length(batch->'events')
     OR EXISTS (
       SELECT 1 FROM jsonb_to_recordset(batch->'events') AS e(s text, v bigint)
       LEFT JOIN jsonb_to_recordset(batch->'streams') AS f(id text, v bigint, n bigint) ON f.id = e.s
       WHERE f.id IS NULL OR e.v <= f.v OR e.v > f.v + f.n)
  THEN
    RAISE EXCEPTION 'paybound_append_fenced: malformed batch' USING ERRCODE = 'PB400';
  END IF;

  -- The head is looked up as a scalar subquery by (stream, version), one index probe: an
  -- EXISTS here may be planned as a hash over the whole events table once the plan is cached.
  WITH moved AS (
    UPDATE streams s SET version = f.v + f.n
    FROM jsonb_to_recordset(batch->'streams') AS f(id text, v bigint, n bigint, h uuid)
    WHERE f.n > 0 AND f.v > 0 AND s.stream_id = f.id AND s.version = f.v
      AND (f.h IS NULL OR f.h = (SELECT e.event_id FROM events e WHERE e.stream_id = f.id AND e.stream_version = f.v))
    RETURNING s.stream_id
  ), created AS (
    INSERT INTO streams (stream_id, version)
    SELECT f.id, f.n FROM jsonb_to_recordset(batch->'streams') AS f(id text, v bigint, n bigint)
    WHERE f.n > 0 AND f.v = 0
    ON CONFLICT (stream_id) DO NOTHING
    RETURNING stream_id
  ), checked AS (
    -- Streams with nothing to write are only checked: the caller's view of them was current.
    SELECT f.id AS stream_id
    FROM jsonb_to_recordset(batch->'streams') AS f(id text, v bigint, n bigint, h uuid)
    LEFT JOIN streams s ON s.stream_id = f.id
    WHERE f.n = 0 AND coalesce(s.version, 0) = f.v
      AND (f.h IS NULL OR f.h = (SELECT e.event_id FROM events e WHERE e.stream_id = f.id AND e.stream_version = f.v))
  )
  SELECT array_agg(stream_id) INTO fenced_ids FROM (SELECT stream_id FROM moved UNION ALL SELECT stream_id FROM created UNION ALL SELECT stream_id FROM checked) AS passed;
  IF coalesce(cardinality(fenced_ids), 0) <> stream_count THEN
    -- Versions of the streams that failed are untouched by this statement, so they are current.
    SELECT jsonb_agg(jsonb_build_object('streamId', f.id, 'expectedVersion', f.v, 'version', coalesce(s.version, 0)))
    INTO stale
    FROM jsonb_to_recordset(batch->'streams') AS f(id text, v bigint)
    LEFT JOIN streams s ON s.stream_id = f.id
    WHERE f.id <> ALL (coalesce(fenced_ids, '{}'));
    RAISE EXCEPTION 'paybound_append_fenced: a stream is not at its expected version'
      USING ERRCODE = 'PB409', DETAIL = coalesce(stale, '[]'::jsonb)::text;
  END IF;

  RETURN QUERY
  WITH input AS MATERIALIZED (
    SELECT * FROM ROWS FROM (jsonb_to_recordset(batch->'events') AS (i uuid, s text, v bigint, t text, sv integer, d jsonb, m jsonb, o timestamptz))
      WITH ORDINALITY AS e(i, s, v, t, sv, d, m, o, ord)
  ), inserted AS (
    INSERT INTO events (event_id, stream_id, stream_version, type, schema_version, data, metadata, occurred_at)
    SELECT input.i, input.s, input.v, input.t, input.sv, input.d, input.m, input.o FROM input ORDER BY input.ord
    RETURNING events.stream_id, events.stream_version, events.global_position
  )
  SELECT coalesce(array_agg(inserted.global_position ORDER BY input.ord), '{}'), pg_current_xact_id()::text
  FROM inserted JOIN input ON input.s = inserted.stream_id AND input.v = inserted.stream_version;
END $$;
