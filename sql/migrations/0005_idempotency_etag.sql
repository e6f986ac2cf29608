-- 0005_idempotency_etag.sql: a replayed answer keeps its ETag (without
-- it a client could not send If-Match after a retried create).

ALTER TABLE evently.idempotency_keys ADD COLUMN response_etag text;
