-- Indexes behind the reads every API request makes.
--
-- Resolving what a user typed (`queries::resolve_asset`: an id, a symbol or a name) matched the id
-- and `upper(symbol)` through indexes but the name through none, so every request naming an asset
-- read the whole registry (thousands of coins); with this index the match is three index probes.
CREATE INDEX assets_name_idx ON assets (lower(name));

-- The newest price of an asset from any source (`/api/v1/assets` asks it of every tracked asset).
-- The primary key leads with the source, so PostgreSQL read and sorted every stored price of an
-- asset to find it; once the table was analysed, the estimate of that work for a thousand assets
-- also made PostgreSQL compile the query (JIT) on every request, which took most of a second.
CREATE INDEX prices_asset_time_idx ON prices (asset_id, time);
