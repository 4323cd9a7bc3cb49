-- 030: an org event the balance projection cannot apply stops that org only, on record, and is tried again later.

CREATE TABLE projection_failures (
  stream_id       text PRIMARY KEY,
  -- The event the org's model stopped before: its checkpoint is at stream_version - 1.
  stream_version  bigint NOT NULL,
  event_id        uuid NOT NULL,
  event_type      text NOT NULL,
  sqlstate        text,
  error           text NOT NULL,
  attempts        integer NOT NULL,
  first_failed_at timestamptz NOT NULL,
  last_failed_at  timestamptz NOT NULL,
  retry_at        timestamptz NOT NULL
);
