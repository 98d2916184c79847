-- The report views gain the human-only counts beside the totals, as columns added at the end (the
-- views' columns are a public interface: added, never renamed or dropped). "Human" is every post not
-- classed automated or promotional, posts stored before classification included, as in the reports.

CREATE OR REPLACE VIEW report_hourly AS
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
           / sum(sum(r.posts)) OVER (PARTITION BY r.bucket)         AS dominance,
       sum(r.human_posts)::bigint                                   AS human_posts,
       (sum(r.human_positive) - sum(r.human_negative))::bigint      AS human_sentiment_balance,
       sum(r.human_score_sum)
           / nullif(sum(r.human_positive + r.human_neutral + r.human_negative), 0) AS human_mean_score,
       sum(r.human_posts)::double precision
           / nullif(sum(sum(r.human_posts)) OVER (PARTITION BY r.bucket), 0) AS human_dominance,
       sum(r.human_authors)::bigint                                 AS human_authors
FROM rollup_hourly r
LEFT JOIN assets a ON a.id = r.asset_id
GROUP BY r.bucket, r.asset_id, a.symbol;

COMMENT ON COLUMN report_hourly.human_posts IS 'Posts mentioning the asset that are not automated or promotional.';
COMMENT ON COLUMN report_hourly.human_sentiment_balance IS 'positive - negative among human_posts.';
COMMENT ON COLUMN report_hourly.human_mean_score IS 'Mean sentiment score of the scored human posts; NULL when none.';
COMMENT ON COLUMN report_hourly.human_dominance IS 'human_posts / human posts of all assets in the same hour (0..1); NULL when the hour has none.';
COMMENT ON COLUMN report_hourly.human_authors IS 'Distinct authors of the human posts, per platform, added up over platforms.';

CREATE OR REPLACE VIEW report_daily AS
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
                                                                    AS dominance,
       sum(r.human_posts)::bigint                                   AS human_posts,
       (sum(r.human_positive) - sum(r.human_negative))::bigint      AS human_sentiment_balance,
       sum(r.human_score_sum)
           / nullif(sum(r.human_positive + r.human_neutral + r.human_negative), 0) AS human_mean_score,
       sum(r.human_posts)::double precision
           / nullif(sum(sum(r.human_posts)) OVER (PARTITION BY date_bin('1 day', r.bucket, 'epoch'::timestamptz)), 0)
                                                                    AS human_dominance
FROM rollup_hourly r
LEFT JOIN assets a ON a.id = r.asset_id
GROUP BY 1, r.asset_id, a.symbol;

COMMENT ON COLUMN report_daily.human_posts IS 'Posts mentioning the asset that are not automated or promotional.';
COMMENT ON COLUMN report_daily.human_sentiment_balance IS 'positive - negative among human_posts.';
COMMENT ON COLUMN report_daily.human_mean_score IS 'Mean sentiment score of the scored human posts; NULL when none.';
COMMENT ON COLUMN report_daily.human_dominance IS 'human_posts / human posts of all assets on the same day (0..1); NULL when the day has none.';
