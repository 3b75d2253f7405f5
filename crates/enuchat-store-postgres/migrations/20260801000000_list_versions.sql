-- A counter per tenant that moves on in the same transaction as every change
-- to the tenant's conversation lists: a conversation created, a message
-- appended (which moves its conversation to the top), a status changed, a
-- demo import. An instance that remembers where deep pages start
-- (`list_anchors.rs`) reads the counter in the same statement as the page:
-- the same number means the same lists, whichever instance wrote since.
-- A tenant without a row has version 0; the first change inserts it.
CREATE TABLE conversation_list_versions (
    tenant_id  uuid PRIMARY KEY REFERENCES tenants (id),
    version    bigint NOT NULL
);
