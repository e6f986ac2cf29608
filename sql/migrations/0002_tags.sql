-- 0002_tags.sql: the tag list's search= also matches the description
-- (name ILIKE '%term%' OR description ILIKE '%term%'): a trigram index on
-- each column lets the planner BitmapOr them, as for events.
--
-- Applied once by the migrate script inside its transaction (no
-- BEGIN/COMMIT, no CONCURRENTLY).

-- gin_trgm_ops lives in the extensions' schema (normally public)
SET LOCAL search_path = evently, public;

CREATE INDEX tags_description_trgm_idx
    ON evently.tags USING gin (description gin_trgm_ops);
