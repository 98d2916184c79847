-- Stable views for psql and BI tools. Their columns are a public interface: add columns, never
-- rename or drop them. Buckets are UTC. A post counts once per asset it mentions ("posts"), and
-- sentiment counts each such post once.

CREATE VIEW report_hourly AS
SELECT r.bucket,
       r.asset_id,
       a.symbol,
       sum(r.posts)::bigint                                         AS posts,
       sum(r.mentions)::bigint                                      AS mentions,
       sum(r.positive)::bigint                                      AS positive,
       sum(r.neutral)::bigint                                       AS neutral,
       sum(r.negative)::bigint                                      AS negative,
       (sum(r.positive) - sum(r.negative))::bigint                  AS sentiment_balance,
       sum(r.score_sum) / nullif(sum(r.positive + r.neutral + r.negative), 0) AS mean_score,
       sum(r.posts)::double precision
           / sum(sum(r.posts)) OVER (PARTITION BY r.bucket)         AS dominance
FROM rollup_hourly r
LEFT JOIN assets a ON a.id = r.asset_id
GROUP BY r.bucket, r.asset_id, a.symbol;

COMMENT ON VIEW report_hourly IS
    'Per asset and UTC hour, all platforms together, from rollup_hourly. Hours without posts are absent.';
COMMENT ON COLUMN report_hourly.bucket IS 'Start of the UTC hour.';
COMMENT ON COLUMN report_hourly.asset_id IS 'CoinGecko id, e.g. bitcoin.';
COMMENT ON COLUMN report_hourly.symbol IS 'Ticker from the assets table; NULL when the registry lacks the id.';
COMMENT ON COLUMN report_hourly.posts IS 'Social volume: posts mentioning the asset (once per post).';
COMMENT ON COLUMN report_hourly.mentions IS 'Mention spans (a post naming the asset twice counts twice).';
COMMENT ON COLUMN report_hourly.positive IS 'Posts mentioning the asset scored positive.';
COMMENT ON COLUMN report_hourly.neutral IS 'Posts mentioning the asset scored neutral.';
COMMENT ON COLUMN report_hourly.negative IS 'Posts mentioning the asset scored negative.';
COMMENT ON COLUMN report_hourly.sentiment_balance IS 'positive - negative.';
COMMENT ON COLUMN report_hourly.mean_score IS 'Mean sentiment score in [-1, 1] of the scored posts; NULL when none was scored.';
COMMENT ON COLUMN report_hourly.dominance IS 'Social dominance: posts / posts of all assets in the same hour (0..1).';

CREATE VIEW report_daily AS
SELECT date_bin('1 day', r.bucket, 'epoch'::timestamptz)          AS day,
       r.asset_id,
       a.symbol,
       sum(r.posts)::bigint                                         AS posts,
       sum(r.mentions)::bigint                                      AS mentions,
       sum(r.positive)::bigint                                      AS positive,
       sum(r.neutral)::bigint                                       AS neutral,
       sum(r.negative)::bigint                                      AS negative,
       (sum(r.positive) - sum(r.negative))::bigint                  AS sentiment_balance,
       sum(r.score_sum) / nullif(sum(r.positive + r.neutral + r.negative), 0) AS mean_score,
       sum(r.posts)::double precision
           / sum(sum(r.posts)) OVER (PARTITION BY date_bin('1 day', r.bucket, 'epoch'::timestamptz))
                                                                    AS dominance
FROM rollup_hourly r
LEFT JOIN assets a ON a.id = r.asset_id
GROUP BY 1, r.asset_id, a.symbol;

COMMENT ON VIEW report_daily IS
    'Per asset and UTC day (00:00-24:00 UTC), all platforms together, from rollup_hourly. Days without posts are absent.';
COMMENT ON COLUMN report_daily.day IS 'Start of the UTC day.';
COMMENT ON COLUMN report_daily.asset_id IS 'CoinGecko id, e.g. bitcoin.';
COMMENT ON COLUMN report_daily.symbol IS 'Ticker from the assets table; NULL when the registry lacks the id.';
COMMENT ON COLUMN report_daily.posts IS 'Social volume: posts mentioning the asset (once per post).';
COMMENT ON COLUMN report_daily.mentions IS 'Mention spans (a post naming the asset twice counts twice).';
COMMENT ON COLUMN report_daily.positive IS 'Posts mentioning the asset scored positive.';
COMMENT ON COLUMN report_daily.neutral IS 'Posts mentioning the asset scored neutral.';
COMMENT ON COLUMN report_daily.negative IS 'Posts mentioning the asset scored negative.';
COMMENT ON COLUMN report_daily.sentiment_balance IS 'positive - negative.';
COMMENT ON COLUMN report_daily.mean_score IS 'Mean sentiment score in [-1, 1] of the scored posts; NULL when none was scored.';
COMMENT ON COLUMN report_daily.dominance IS 'Social dominance: posts / posts of all assets on the same day (0..1).';

-- The daily close: the last price of the day from the source with most points that day.
CREATE VIEW report_asset_daily_with_price AS
WITH daily_price AS (
    SELECT DISTINCT ON (asset_id, day) asset_id, day, source, price
    FROM (
        SELECT asset_id, source, price, time,
               date_bin('1 day', time, 'epoch'::timestamptz) AS day,
               count(*) OVER (PARTITION BY asset_id, source, date_bin('1 day', time, 'epoch'::timestamptz)) AS n
        FROM prices
    ) p
    ORDER BY asset_id, day, n DESC, source, time DESC
)
SELECT coalesce(d.day, p.day)             AS day,
       coalesce(d.asset_id, p.asset_id)   AS asset_id,
       coalesce(d.symbol, a.symbol)       AS symbol,
       coalesce(d.posts, 0)               AS posts,
       coalesce(d.sentiment_balance, 0)   AS sentiment_balance,
       d.mean_score,
       d.dominance,
       p.price                            AS close_price,
       p.source                           AS price_source
FROM report_daily d
FULL JOIN daily_price p ON p.asset_id = d.asset_id AND p.day = d.day
LEFT JOIN assets a ON a.id = p.asset_id;

COMMENT ON VIEW report_asset_daily_with_price IS
    'report_daily joined to the daily close price; a day appears when it has posts, a price or both.';
COMMENT ON COLUMN report_asset_daily_with_price.day IS 'Start of the UTC day.';
COMMENT ON COLUMN report_asset_daily_with_price.asset_id IS 'CoinGecko id, e.g. bitcoin.';
COMMENT ON COLUMN report_asset_daily_with_price.symbol IS 'Ticker from the assets table; NULL when the registry lacks the id.';
COMMENT ON COLUMN report_asset_daily_with_price.posts IS 'Social volume of the day (0 when only a price is known).';
COMMENT ON COLUMN report_asset_daily_with_price.sentiment_balance IS 'positive - negative posts of the day.';
COMMENT ON COLUMN report_asset_daily_with_price.mean_score IS 'Mean sentiment score of the scored posts; NULL when none.';
COMMENT ON COLUMN report_asset_daily_with_price.dominance IS 'Share of all assets'' posts that day; NULL when the asset had no posts.';
COMMENT ON COLUMN report_asset_daily_with_price.close_price IS 'Last price of the UTC day (quote currency of the source, USD or USDT); NULL when none is stored.';
COMMENT ON COLUMN report_asset_daily_with_price.price_source IS 'Source of close_price: the one with most points that day (ties by name).';
