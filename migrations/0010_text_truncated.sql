-- A post whose text was longer than its platform allows is stored cut at that limit (see
-- `Platform::max_text_bytes`), never rejected; this flag says so, so reports and re-processing can
-- tell a cut text from a whole one. Where the source gave one, `raw` still holds the full item.
ALTER TABLE posts ADD COLUMN text_truncated boolean NOT NULL DEFAULT false;

COMMENT ON COLUMN posts.text_truncated IS
    'true when the text was cut to the platform''s maximum length before it was tagged and scored';
