-- The visitor side (chat widget API).

-- A visitor has at most one conversation, reopened when they write back. The
-- index is also the visitor's look-up of it, and the conflict target that
-- makes get-or-create safe under concurrency.
CREATE UNIQUE INDEX conversations_visitor ON conversations (visitor_id);

-- The visitor API authenticates by the SHA-256 of the visitor's token.
-- Visitors without a token (imports, demo data) keep NULL, which a unique
-- index allows any number of times; they are also left out of the index.
CREATE UNIQUE INDEX visitors_token_hash ON visitors (token_hash)
    WHERE token_hash IS NOT NULL;
