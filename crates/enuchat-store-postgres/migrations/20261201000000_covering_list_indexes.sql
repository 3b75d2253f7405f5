-- The Tenant API's default list (no filters) is read from its index alone.
--
-- A deep page used to cut 20 ids from `conversations_tenant_recent_idx`,
-- then look up each conversation and each visitor by primary key: 40 index
-- descents and 40 heap pages at random places, most of the page's cost.
-- The list index now includes every column of a list row, and
-- `visitors_list_idx` a visitor's name and email, so such a page is an
-- index-only range scan and 20 index-only look-ups (once the pages are
-- all-visible, which deep pages, holding the oldest conversations, are).
--
-- What it costs: every message already writes a new entry here
-- (`last_message_at` is in the key, so conversation updates are never
-- HOT), so appends write as many entries as before, each about 100 bytes
-- wider. Visitors are written when they arrive or change their name.
DROP INDEX conversations_tenant_recent_idx;
CREATE INDEX conversations_tenant_recent_idx
    ON conversations (tenant_id, last_message_at DESC, id DESC)
    INCLUDE (widget_id, visitor_id, status, assigned_to, visitor_language,
             started_at, last_seq, handed_off_at);
CREATE INDEX visitors_list_idx ON visitors (id) INCLUDE (name, email);

-- A list row as the unfiltered list's cut carries it (`list_sql!` in
-- conversations.rs), in `list_row_columns!` order.
CREATE TYPE conversation_list_row AS (
    id               uuid,
    tenant_id        uuid,
    widget_id        uuid,
    visitor_id       text,
    visitor_language text,
    status           text,
    assigned_to      uuid,
    last_message_at  timestamptz,
    started_at       timestamptz,
    last_seq         bigint,
    handed_off_at    timestamptz
);
