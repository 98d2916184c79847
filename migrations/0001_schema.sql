-- coinpulse schema. Posts are keyed by (platform, external_id) so that fetching the same post twice
-- stores it once; everything derived from a post hangs off its surrogate id.

CREATE TABLE assets (
    id      text PRIMARY KEY,                 -- CoinGecko id, e.g. 'bitcoin'
    symbol  text NOT NULL,                    -- upper-case ticker, e.g. 'BTC'
    name    text NOT NULL,
    aliases text[] NOT NULL DEFAULT '{}',
    rank    integer                           -- market-cap rank where known
);
CREATE INDEX assets_symbol_idx ON assets (upper(symbol));

CREATE TABLE posts (
    id               bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    platform         text NOT NULL,
    external_id      text NOT NULL,
    author           text,
    text             text NOT NULL,
    url              text,
    created_at       timestamptz NOT NULL,
    collected_at     timestamptz NOT NULL DEFAULT now(),
    language         text,
    replies          bigint,
    reposts          bigint,
    likes            bigint,
    views            bigint,
    author_followers bigint,
    raw              jsonb,
    PRIMARY KEY (platform, external_id)
);
CREATE INDEX posts_created_at_idx ON posts (created_at);

-- One row per span. platform and created_at are copied from the post so that "asset over a time
-- range" queries need no join.
CREATE TABLE mentions (
    post_id    bigint NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    asset_id   text NOT NULL,
    surface    text NOT NULL,
    start_byte integer NOT NULL CHECK (start_byte >= 0),
    end_byte   integer NOT NULL CHECK (end_byte > start_byte),
    kind       text NOT NULL CHECK (kind IN ('cashtag', 'hashtag', 'symbol', 'name', 'alias')),
    platform   text NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (post_id, start_byte)
);
CREATE INDEX mentions_asset_time_idx ON mentions (asset_id, created_at);

CREATE TABLE sentiment (
    post_id       bigint PRIMARY KEY REFERENCES posts (id) ON DELETE CASCADE,
    label         text NOT NULL CHECK (label IN ('negative', 'neutral', 'positive')),
    score         real NOT NULL CHECK (score >= -1 AND score <= 1),
    model_version text NOT NULL
);

CREATE TABLE prices (
    asset_id text NOT NULL,
    time     timestamptz NOT NULL,
    price    double precision NOT NULL CHECK (price >= 0),
    volume   double precision,
    source   text NOT NULL,
    PRIMARY KEY (asset_id, source, time)
);

-- The position each source has safely reached: written in the same transaction as the posts it covers.
CREATE TABLE cursors (
    source     text PRIMARY KEY,
    position   jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Hourly rollup per asset and platform, kept current by the batch writer in the same transaction as
-- the posts. `posts` counts posts mentioning the asset (social volume); `mentions` counts spans.
-- The sentiment columns count each post once per asset it mentions.
CREATE TABLE rollup_hourly (
    bucket    timestamptz NOT NULL,
    asset_id  text NOT NULL,
    platform  text NOT NULL,
    posts     bigint NOT NULL DEFAULT 0,
    mentions  bigint NOT NULL DEFAULT 0,
    positive  bigint NOT NULL DEFAULT 0,
    neutral   bigint NOT NULL DEFAULT 0,
    negative  bigint NOT NULL DEFAULT 0,
    score_sum double precision NOT NULL DEFAULT 0,
    PRIMARY KEY (asset_id, platform, bucket)
);
CREATE INDEX rollup_hourly_bucket_idx ON rollup_hourly (bucket);

-- Which process polls which source: one row per source, held until expires_at unless renewed.
CREATE TABLE source_leases (
    source     text PRIMARY KEY,
    holder     text NOT NULL,
    expires_at timestamptz NOT NULL
);
