-- Posts the pipeline could not store: the database refused them (a value beyond one of its limits, a
-- constraint) or enriching them panicked. The batch writer isolates such posts by bisection and keeps
-- them here, in the transaction that stores the rest of their batch and moves its cursor, so one bad
-- post never holds a source back and nothing is silently dropped.
--
-- No key on external_id: a value too large for an index is one of the reasons a post lands here.
-- `raw` is the post as coinpulse built it (serialised `Post`), for inspection and re-processing.

CREATE TABLE rejected_posts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source      text NOT NULL,                    -- the source or 'import' that delivered it
    platform    text NOT NULL,
    external_id text NOT NULL,
    reason      text NOT NULL,                    -- the database's error, or the panic message
    raw         jsonb NOT NULL,
    rejected_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rejected_posts_rejected_at_idx ON rejected_posts (rejected_at);

COMMENT ON TABLE rejected_posts IS 'Posts the database refused or enrichment could not process, kept instead of stored; their batches were committed without them.';
COMMENT ON COLUMN rejected_posts.source IS 'Configured source name, or import.';
COMMENT ON COLUMN rejected_posts.reason IS 'Why: the database error or the enrichment panic message.';
COMMENT ON COLUMN rejected_posts.raw IS 'The post as built by coinpulse (NUL removed), for re-processing.';
