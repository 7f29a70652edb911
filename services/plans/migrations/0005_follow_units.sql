-- How far the plans service has followed another service's event stream (the units outbox, for
-- reorganisations): advanced in the transaction that applies an event, so each applies once.
CREATE TABLE plans.consumer_cursors (
    stream   text PRIMARY KEY,
    sequence bigint NOT NULL
);
