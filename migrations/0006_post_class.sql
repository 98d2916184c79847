-- Post classes: who wrote a post (a person, a bot, a promotion) and the reasons the classifier gave.
-- Reports count human posts by default, so the hourly rollup keeps human-only counts beside the
-- totals, written in the same transaction as the posts:
--   human_posts, human_mentions and the human sentiment columns mirror the total columns;
--   human_authors counts the distinct authors of human posts (a post without an author counts as
--   one author of its own); rollup_authors holds those authors, so a later batch knows whom it has
--   already counted;
--   human_weight_sum / human_weighted_score_sum carry the engagement-weighted sentiment of human
--   posts, with weight 1 + ln(1 + likes + reposts).
--
-- Posts stored before classification existed have class NULL and count as human until
-- `coinpulse db reclassify` gives them a class: the human columns start equal to the totals, and the
-- authors are counted from the posts still stored (rollup rows whose posts were pruned keep 0).

ALTER TABLE posts
    ADD COLUMN class text CHECK (class IN ('human', 'automated', 'promotional')),
    ADD COLUMN class_reasons text[];

ALTER TABLE rollup_hourly
    ADD COLUMN human_posts bigint NOT NULL DEFAULT 0,
    ADD COLUMN human_mentions bigint NOT NULL DEFAULT 0,
    ADD COLUMN human_positive bigint NOT NULL DEFAULT 0,
    ADD COLUMN human_neutral bigint NOT NULL DEFAULT 0,
    ADD COLUMN human_negative bigint NOT NULL DEFAULT 0,
    ADD COLUMN human_score_sum double precision NOT NULL DEFAULT 0,
    ADD COLUMN human_authors bigint NOT NULL DEFAULT 0,
    ADD COLUMN human_weight_sum double precision NOT NULL DEFAULT 0,
    ADD COLUMN human_weighted_score_sum double precision NOT NULL DEFAULT 0;

CREATE TABLE rollup_authors (
    asset_id text NOT NULL,
    platform text NOT NULL,
    bucket   timestamptz NOT NULL,
    author   text NOT NULL,
    PRIMARY KEY (asset_id, platform, bucket, author)
);

UPDATE rollup_hourly
SET human_posts = posts, human_mentions = mentions, human_positive = positive,
    human_neutral = neutral, human_negative = negative, human_score_sum = score_sum;

INSERT INTO rollup_authors (asset_id, platform, bucket, author)
SELECT DISTINCT m.asset_id, p.platform, date_trunc('hour', p.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', p.author
FROM mentions m JOIN posts p ON p.id = m.post_id
WHERE p.author IS NOT NULL;

WITH per_post AS (
    SELECT DISTINCT m.asset_id, p.platform,
           date_trunc('hour', p.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS bucket,
           p.id, p.author, p.sentiment_score,
           1 + ln((1 + greatest(coalesce(p.likes, 0), 0) + greatest(coalesce(p.reposts, 0), 0))::float8) AS weight
    FROM mentions m JOIN posts p ON p.id = m.post_id),
counted AS (
    SELECT asset_id, platform, bucket,
           count(DISTINCT author) + count(*) FILTER (WHERE author IS NULL) AS authors,
           sum(weight) FILTER (WHERE sentiment_score IS NOT NULL) AS weight_sum,
           sum(weight * sentiment_score) AS weighted_score_sum
    FROM per_post GROUP BY 1, 2, 3)
UPDATE rollup_hourly r
SET human_authors = c.authors,
    human_weight_sum = coalesce(c.weight_sum, 0),
    human_weighted_score_sum = coalesce(c.weighted_score_sum, 0)
FROM counted c
WHERE r.asset_id = c.asset_id AND r.platform = c.platform AND r.bucket = c.bucket;
