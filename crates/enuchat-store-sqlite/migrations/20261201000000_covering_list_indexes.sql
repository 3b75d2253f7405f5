-- The Tenant API's default list (no filters) is read from its index alone.
--
-- A deep page used to find its 20 rows in `conversations_recent`, then look
-- up each row in the table and each visitor twice (the primary key's index,
-- then the table): 60 B-tree descents to random pages, most of the page's
-- cost. The list index now carries every list column after its sort key,
-- and `visitors_list` carries a visitor's name and email, so a page is one
-- index walk and 20 descents.
--
-- What it costs: every message already rewrites the conversation's entry
-- here (`last_message_at` is in the key), so appends write the same number
-- of entries, each about 100 bytes wider. Visitors are written when they
-- arrive or change their name, rarely against messages. The columns after
-- the sort key never change the order (`id` is unique).
DROP INDEX conversations_recent;
CREATE INDEX conversations_recent ON conversations (
    tenant_id, last_message_at DESC, id DESC,
    widget_id, visitor_id, status, assigned_to, visitor_language,
    started_at, last_seq, handed_off_at
);
CREATE INDEX visitors_list ON visitors (id, name, email);
