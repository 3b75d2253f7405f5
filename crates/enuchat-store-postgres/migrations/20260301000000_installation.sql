-- One row, written by the first `enuchat serve` that sets up an empty
-- database, so that instances starting together create one first account.
CREATE TABLE installation (
    id integer PRIMARY KEY CHECK (id = 1),
    first_started_at timestamptz NOT NULL
);
