-- Role views: one table per view, one row per team and UTC day (as_of_date = the day whose end
-- the row describes). Column names are a contract: digests, SQL users and `flowsync sql` rely on
-- them (README, "Role views"). Durations are hours. Person columns hold pseudonyms, never names,
-- and appear only in the engineer and engineering-manager views.

-- DORA performance levels, the one place their thresholds live (report year beside them).
-- A metric is at the first level (by rank) whose bound it meets.
CREATE TABLE IF NOT EXISTS dora_thresholds (
    metric       VARCHAR NOT NULL,  -- deployment_frequency | lead_time | change_failure_rate | recovery_time
    level        VARCHAR NOT NULL,  -- elite | high | medium | low
    rank         INTEGER NOT NULL,  -- 1 = elite ... 4 = low
    bound        DOUBLE,            -- deployments per day (at least), or hours / rate (at most), NULL = any
    report       VARCHAR NOT NULL,  -- the report the figure comes from
    PRIMARY KEY (metric, level)
);

-- DORA per team and service (service = repository; 'all' = the team's services together), for
-- the day and the rolling 28 and 84 days ending with it.
CREATE TABLE IF NOT EXISTS dora (
    team                        VARCHAR NOT NULL,
    service                     VARCHAR NOT NULL,
    as_of_date                  DATE NOT NULL,
    window_days                 INTEGER NOT NULL,  -- 1 | 28 | 84
    deployments                 BIGINT NOT NULL,   -- successful production deployments
    deployments_per_day         DOUBLE NOT NULL,
    changes                     BIGINT NOT NULL,   -- pull requests first reaching production
    lead_time_p50_hours         DOUBLE,            -- first commit -> successful production deployment
    lead_time_p90_hours         DOUBLE,
    change_failures_expected    DOUBLE NOT NULL,   -- sum over deployments of P(caused an incident)
    change_failure_rate         DOUBLE,            -- expected value
    change_failure_rate_low     DOUBLE,            -- 95 % interval (Poisson-binomial, normal approx.)
    change_failure_rate_high    DOUBLE,
    incidents_restored          BIGINT NOT NULL,   -- attributed incidents (link >= 0.5) restored in the window
    recovery_time_p50_hours     DOUBLE,            -- first seen -> its fix in production
    recovery_time_p90_hours     DOUBLE,
    rework_deployments_expected DOUBLE NOT NULL,   -- unplanned deployments made because of an incident
    rework_rate                 DOUBLE,
    deployment_frequency_level  VARCHAR,
    lead_time_level             VARCHAR,
    change_failure_level        VARCHAR,
    recovery_level              VARCHAR,
    performance_level           VARCHAR,           -- the lowest of the four levels known
    PRIMARY KEY (team, service, as_of_date, window_days)
);

-- Engineering manager: one row per pull request whose cycle ended (first successful production
-- deployment) on as_of_date. coding + pickup + review + deploy = cycle, exactly.
CREATE TABLE IF NOT EXISTS em_cycle_time (
    team            VARCHAR NOT NULL,
    as_of_date      DATE NOT NULL,
    pull_request    VARCHAR NOT NULL,
    author          VARCHAR,          -- pseudonym
    first_commit_at TIMESTAMPTZ NOT NULL,
    opened_at       TIMESTAMPTZ NOT NULL,
    first_review_at TIMESTAMPTZ,
    merged_at       TIMESTAMPTZ NOT NULL,
    deployed_at     TIMESTAMPTZ NOT NULL,
    coding_hours    DOUBLE NOT NULL,  -- first commit -> opened
    pickup_hours    DOUBLE NOT NULL,  -- opened -> first review (0 when merged unreviewed)
    review_hours    DOUBLE NOT NULL,  -- first review -> merged
    deploy_hours    DOUBLE NOT NULL,  -- merged -> in production
    cycle_hours     DOUBLE NOT NULL,
    PRIMARY KEY (team, as_of_date, pull_request)
);

-- Engineering manager, team level: work in progress at the day's end and flow over the 28 days
-- ending with it. The *_avg parts add up to cycle_hours_avg (means add up; medians do not).
CREATE TABLE IF NOT EXISTS em_team_flow (
    team                     VARCHAR NOT NULL,
    as_of_date               DATE NOT NULL,
    wip_pull_requests        BIGINT NOT NULL,
    wip_tickets              BIGINT NOT NULL,
    first_review_p50_hours   DOUBLE,  -- opened -> first review, reviews in the 28 days
    first_review_p90_hours   DOUBLE,
    review_p50_hours         DOUBLE,  -- first review -> merged, merges in the 28 days
    review_p90_hours         DOUBLE,
    cycle_p50_hours          DOUBLE,
    cycle_p90_hours          DOUBLE,
    coding_hours_avg         DOUBLE,
    pickup_hours_avg         DOUBLE,
    review_hours_avg         DOUBLE,
    deploy_hours_avg         DOUBLE,
    cycle_hours_avg          DOUBLE,
    blocked_items            BIGINT NOT NULL,  -- ticket_blocked statements of the day
    risks                    BIGINT NOT NULL,  -- the day's em_attention risks
    PRIMARY KEY (team, as_of_date)
);

-- Engineering manager: the blocked items and risks behind em_team_flow, one per statement.
CREATE TABLE IF NOT EXISTS em_attention (
    team          VARCHAR NOT NULL,
    as_of_date    DATE NOT NULL,
    item_kind     VARCHAR NOT NULL,  -- blocked (ticket_blocked) | risk (pr_will_stall, sprint_at_risk, epic_at_risk, incident_slow_to_restore, incident_caused_by_deployment, ci_failing_default_branch, pr_waiting_for_review)
    statement_id  VARCHAR NOT NULL,
    kind          VARCHAR NOT NULL,  -- the statement kind
    subject_id    VARCHAR NOT NULL,
    confidence    DOUBLE NOT NULL,
    band          VARCHAR NOT NULL,
    text          VARCHAR NOT NULL,
    PRIMARY KEY (team, as_of_date, statement_id)
);

-- Engineer: everything about one person's work at the day's end, keyed by their pseudonym.
-- One row per (team, as_of_date, person, item_kind, entity_id), which the check
-- engineer_items_one_row_per_item asserts: millions of rows over years of history, and a
-- PRIMARY KEY index made writing and replacing them ten times slower.
CREATE TABLE IF NOT EXISTS engineer_items (
    team          VARCHAR NOT NULL,
    as_of_date    DATE NOT NULL,
    person        VARCHAR NOT NULL,  -- pseudonym
    item_kind     VARCHAR NOT NULL,  -- open_pull_request | review_requested | failing_ci | ticket | statement
    entity_id     VARCHAR NOT NULL,  -- pull request, CI run, ticket, or "subject kind [object]"
    title         VARCHAR,
    url           VARCHAR,
    state         VARCHAR,           -- review state | CI conclusion | ticket status | statement kind
    since         TIMESTAMPTZ,       -- opened / requested / failed / last change / first stated
    waited_hours  DOUBLE,            -- since -> the day's end
    linked        VARCHAR[]          -- a ticket's pull requests, a statement's id and band
);

-- Product manager: sprint / cycle and epic / project progress with scope change. No persons.
CREATE TABLE IF NOT EXISTS pm_progress (
    team            VARCHAR NOT NULL,
    as_of_date      DATE NOT NULL,
    container_type  VARCHAR NOT NULL,  -- sprint | epic
    container_id    VARCHAR NOT NULL,
    name            VARCHAR,
    starts_on       DATE,
    ends_on         DATE,              -- sprint end or epic target date
    scope_at_start  BIGINT NOT NULL,   -- tickets created before the container started
    added           BIGINT NOT NULL,   -- tickets created after it started
    removed         BIGINT NOT NULL,   -- tickets cancelled
    done            BIGINT NOT NULL,
    remaining       BIGINT NOT NULL,
    progress        DOUBLE,            -- done / (scope_at_start + added - removed)
    PRIMARY KEY (team, as_of_date, container_type, container_id)
);

-- Product manager: what shipped, predicted risks, design feedback and its tickets. No persons
-- (statement text may name a pseudonym, so it is not copied here).
CREATE TABLE IF NOT EXISTS pm_items (
    team          VARCHAR NOT NULL,
    as_of_date    DATE NOT NULL,
    item_kind     VARCHAR NOT NULL,  -- shipped | risk | design_feedback
    subject_id    VARCHAR NOT NULL,  -- ticket, sprint, epic, or design comment
    ticket_id     VARCHAR,           -- the ticket it concerns
    title         VARCHAR,
    url           VARCHAR,
    kind          VARCHAR,           -- the statement kind, or design_comment
    confidence    DOUBLE NOT NULL,
    band          VARCHAR NOT NULL,
    statement_id  VARCHAR,
    PRIMARY KEY (team, as_of_date, item_kind, subject_id)
);

-- Executive: per team, the 7 days ending with as_of_date (a 12-week trend is 12 rows, 7 days
-- apart). No persons.
CREATE TABLE IF NOT EXISTS exec_team_weekly (
    team                   VARCHAR NOT NULL,
    as_of_date             DATE NOT NULL,
    merged_pull_requests   BIGINT NOT NULL,
    tickets_done           BIGINT NOT NULL,
    deployments            BIGINT NOT NULL,
    incidents_opened       BIGINT NOT NULL,
    incidents_restored     BIGINT NOT NULL,
    restore_p50_hours      DOUBLE,
    features_done          BIGINT NOT NULL,
    defects_done           BIGINT NOT NULL,
    maintenance_done       BIGINT NOT NULL,
    unplanned_done         BIGINT NOT NULL,
    PRIMARY KEY (team, as_of_date)
);

-- Executive: investment mix by category and epic, tickets done in the 28 days ending with as_of_date.
CREATE TABLE IF NOT EXISTS exec_investment (
    team         VARCHAR NOT NULL,
    as_of_date   DATE NOT NULL,
    category     VARCHAR NOT NULL,  -- features | defects | maintenance | unplanned
    epic_id      VARCHAR NOT NULL,  -- '' when the ticket has no epic
    epic_name    VARCHAR,
    tickets_done BIGINT NOT NULL,
    share        DOUBLE NOT NULL,   -- of the team's tickets done in the 28 days
    PRIMARY KEY (team, as_of_date, category, epic_id)
);
