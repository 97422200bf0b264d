-- Statements: the claims digests, role views and the chatbot make, one row per claim and day.
-- The column names are a contract (SQL users, digests and `flowsync ask` rely on them).
CREATE TABLE IF NOT EXISTS statements (
    statement_id    VARCHAR PRIMARY KEY,  -- sha256(kind, subject_id, object_id, as_of_date), 32 hex
    as_of_date      DATE NOT NULL,        -- the UTC day the claim is about (its end)
    team            VARCHAR,              -- flowsync.yaml team key, NULL when no team owns it
    kind            VARCHAR NOT NULL,     -- pr_waiting_for_review | ticket_shipped | ...
    subject_type    VARCHAR NOT NULL,     -- pull_request | ticket | deployment | incident | repo
    subject_id      VARCHAR NOT NULL,     -- entity id as in signals (acme/api#42, PAY-123, ...)
    object_type     VARCHAR,              -- for relational claims, e.g. deployment
    object_id       VARCHAR,
    text            VARCHAR NOT NULL,     -- the rendered sentence, pseudonyms only, never names
    params          JSON NOT NULL,        -- the template parameters
    confidence      DOUBLE NOT NULL,      -- 0-1, facts 1.0
    band            VARCHAR NOT NULL,     -- high (>= 0.80) | medium (0.60-0.80) | low (< 0.60)
    audience        VARCHAR[] NOT NULL,   -- roles the claim is for
    evidence        VARCHAR[] NOT NULL,   -- signals.event_id of the events it rests on
    citations       VARCHAR[] NOT NULL,   -- URLs a person can click
    model           VARCHAR NOT NULL,     -- rule:<kind> for facts, graph_paths for inferred kinds
    model_version   VARCHAR NOT NULL,     -- hash of the rule / combination and its settings
    first_stated_on DATE NOT NULL         -- first as-of day the same (kind, subject, object) was stated
)
