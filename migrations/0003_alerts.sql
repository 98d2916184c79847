-- Alerts that fired: one row per rule, asset and closed bucket. Delivering only what this table
-- accepted keeps several daemons (or a restarted one) from sending the same alert twice, and the
-- cool-down is checked against it.
CREATE TABLE alerts_sent (
    rule     text NOT NULL,
    asset_id text NOT NULL,
    bucket   timestamptz NOT NULL,
    fired_at timestamptz NOT NULL DEFAULT now(),
    message  text NOT NULL,
    value    double precision,
    PRIMARY KEY (rule, asset_id, bucket)
);
CREATE INDEX alerts_sent_recent_idx ON alerts_sent (rule, asset_id, fired_at);
