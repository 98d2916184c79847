-- The version of the asset registry stored in the database. `coinpulse assets update` bumps it in
-- the transaction that writes its ranking and sends `NOTIFY coinpulse_registry` with the new version,
-- so a running daemon rebuilds its tagger without a restart; a daemon whose LISTEN connection dropped
-- finds the new version on its next periodic check. One row, never deleted.

CREATE TABLE registry_version (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version    bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- A database that already holds rankings starts at 1, an empty one at 0.
INSERT INTO registry_version (version)
SELECT CASE WHEN EXISTS (SELECT 1 FROM asset_ranks) THEN 1 ELSE 0 END;
