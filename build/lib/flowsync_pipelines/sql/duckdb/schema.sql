-- FlowSync's analytical tables. Idempotent: run at every connection.
CREATE TABLE IF NOT EXISTS signals (
    event_id     VARCHAR PRIMARY KEY,
    source       VARCHAR NOT NULL,
    entity_type  VARCHAR NOT NULL,
    entity_id    VARCHAR NOT NULL,
    action       VARCHAR NOT NULL,
    occurred_at  TIMESTAMPTZ NOT NULL,
    observed_at  TIMESTAMPTZ NOT NULL,
    hlc          BIGINT NOT NULL,  -- hybrid logical clock: (physical ms << 16) + counter, per entity
    actor        VARCHAR,          -- pseudonym (HMAC), never a login or an email
    actor_kind   VARCHAR NOT NULL, -- human | bot | deleted | unknown
    repository   VARCHAR,
    pr_number    BIGINT,
    commit_sha   VARCHAR,
    ticket_keys  VARCHAR[],
    deployment_id VARCHAR,
    release      VARCHAR,
    environment  VARCHAR,
    title        VARCHAR,
    state        VARCHAR,
    url          VARCHAR,          -- the citation a person can click
    attributes   JSON,
    landing_ref  VARCHAR NOT NULL  -- the landing record this event came from
);

-- Out-of-sequence events, for the integration-health monitor.
CREATE TABLE IF NOT EXISTS ordering_violations (
    event_id     VARCHAR NOT NULL,
    entity_id    VARCHAR NOT NULL,
    source       VARCHAR NOT NULL,
    rule         VARCHAR NOT NULL,  -- time_went_backwards | before_creation
    detail       VARCHAR NOT NULL,
    occurred_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (event_id, rule)
);

CREATE TABLE IF NOT EXISTS quarantine (
    landing_ref  VARCHAR PRIMARY KEY,
    source       VARCHAR NOT NULL,
    kind         VARCHAR NOT NULL,
    record_id    VARCHAR NOT NULL,
    reason       VARCHAR NOT NULL,
    payload      VARCHAR NOT NULL
);

-- Who is on which team, as pseudonyms (rebuilt from flowsync.yaml at every run).
CREATE TABLE IF NOT EXISTS team_members (
    team   VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    actor  VARCHAR NOT NULL,
    PRIMARY KEY (team, source, actor)
);

-- Which ticket containers a team owns: Jira components, Linear teams.
CREATE TABLE IF NOT EXISTS team_ticket_scopes (
    team   VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    scope  VARCHAR NOT NULL,
    PRIMARY KEY (team, source, scope)
);

-- Engineering manager role view: each team's work in progress at the end of each UTC day.
CREATE TABLE IF NOT EXISTS em_team_wip (
    team                     VARCHAR NOT NULL,
    as_of_date               DATE NOT NULL,
    open_pull_requests       BIGINT NOT NULL,
    awaiting_first_review    BIGINT NOT NULL,
    stale_pull_requests      BIGINT NOT NULL,  -- open for more than 3 days
    merged_today             BIGINT NOT NULL,
    tickets_in_progress      BIGINT NOT NULL,
    tickets_done_today       BIGINT NOT NULL,
    PRIMARY KEY (team, as_of_date)
);

-- The items behind each number above, with the events that prove them.
CREATE TABLE IF NOT EXISTS em_team_wip_items (
    team        VARCHAR NOT NULL,
    as_of_date  DATE NOT NULL,
    item_kind   VARCHAR NOT NULL,  -- open_pull_request | merged_pull_request | ticket_in_progress | ticket_done
    entity_id   VARCHAR NOT NULL,
    title       VARCHAR,
    url         VARCHAR,
    actor       VARCHAR,           -- pseudonym of the author / assignee
    since       TIMESTAMPTZ,
    age_days    DOUBLE,
    review_state VARCHAR,          -- none | commented | changes_requested | approved
    evidence    VARCHAR[] NOT NULL,
    PRIMARY KEY (team, as_of_date, item_kind, entity_id)
);
