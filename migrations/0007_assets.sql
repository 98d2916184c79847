-- The asset registry in the database. `coinpulse assets update` writes CoinGecko's market-cap ranking
-- of the day into `asset_ranks` (one row per coin and day) and the coins' current id, symbol and name
-- into `assets`; the tagger adds these rankings to the ones built into the binary, so a ticker several
-- coins share resolves by the ranking nearest a post's time. A coin that an earlier update saw in
-- CoinGecko's coin list and a later one did not is marked delisted on that day.

CREATE TABLE asset_ranks (
    asset_id  text NOT NULL REFERENCES assets (id),
    ranked_on date NOT NULL,
    rank      integer NOT NULL CHECK (rank > 0),
    PRIMARY KEY (asset_id, ranked_on)
);
CREATE INDEX asset_ranks_day_idx ON asset_ranks (ranked_on);

ALTER TABLE assets
    ADD COLUMN listed_on date,      -- the last update that saw the coin in CoinGecko's coin list
    ADD COLUMN delisted_on date;    -- the first update that no longer did
