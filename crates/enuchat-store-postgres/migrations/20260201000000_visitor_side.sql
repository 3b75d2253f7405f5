-- The visitor side (the widget API).
--
-- A visitor has at most one conversation: it is reopened when they write
-- back rather than a new one started. The unique index is also what
-- get_or_create_visitor_conversation's `ON CONFLICT (visitor_id)` relies on
-- to stay correct when several instances create it at once, and it serves
-- visitor_conversation's look-up.
CREATE UNIQUE INDEX conversations_visitor_id_key ON conversations (visitor_id);

-- Visitor tokens: only their SHA-256 is stored; the unique index is the
-- authentication look-up (find_visitor_by_token). Visitors without a token
-- (imports, demo data) keep NULL, which the index does not compare.
CREATE UNIQUE INDEX visitors_token_hash_key ON visitors (token_hash);
ALTER TABLE visitors
    ADD CONSTRAINT visitors_token_hash_length
    CHECK (token_hash IS NULL OR octet_length(token_hash) = 32);

-- allowed_origins is now read and written: a JSON array of origin strings.
ALTER TABLE widgets
    ADD CONSTRAINT widgets_allowed_origins_array
    CHECK (jsonb_typeof(allowed_origins) = 'array');
